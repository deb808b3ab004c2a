//! Virtual machines: the network they need, the create body, and their portable state.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use credless_registry::{AzureAccount, Provider as ProviderKind};
use credless_resources::{Kind, Resource, ResourceError, ResourceRequest, SizeClass, State};
use reqwest::Method;
use serde_json::{Value, json};

use super::arm::Arm;
use super::{MANAGED_BY_TAG, group_segments, portable_id, region_of};

/// The api-version of `Microsoft.Compute` used.
pub(super) const API_VERSION: &str = "2024-07-01";
/// The api-version of `Microsoft.Network` used.
const NETWORK_API_VERSION: &str = "2024-05-01";
/// Ubuntu 22.04 LTS, generation 2.
const DEFAULT_IMAGE: &str = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest";
/// The admin account of every VM.
const ADMIN_USERNAME: &str = "azureuser";
/// The request tag carrying an OpenSSH public key; it is not sent as an Azure tag.
pub(super) const SSH_KEY_TAG: &str = "ssh-public-key";
const VNET_ADDRESS_SPACE: &str = "10.0.0.0/16";
const SUBNET_PREFIX: &str = "10.0.0.0/24";

/// The native size of a portable class or a native size.
pub(super) fn native_size(size: &str) -> String {
    match SizeClass::parse(size) {
        Some(SizeClass::Small) => "Standard_B2s".to_owned(),
        Some(SizeClass::Medium) => "Standard_D2s_v5".to_owned(),
        Some(SizeClass::Large) => "Standard_D4s_v5".to_owned(),
        None => size.to_owned(),
    }
}

/// The portable state of a VM, from its provisioning state and instance view.
pub(super) fn state(provisioning: &str, power: Option<&str>) -> State {
    match (provisioning.to_ascii_lowercase().as_str(), power) {
        ("deleting", _) => State::Deleting,
        ("failed", _) => State::Error,
        ("creating", _) | (_, Some("starting")) => State::Pending,
        (_, Some("running")) => State::Running,
        (_, Some("stopping" | "deallocating")) => State::Stopping,
        (_, Some("stopped" | "deallocated")) => State::Stopped,
        ("updating" | "succeeded", None) => State::Pending,
        _ => State::Unknown,
    }
}

/// Lists the VMs of the account's resource group, with their instance views.
pub(super) async fn list(
    arm: &Arm<'_>,
    account: &AzureAccount,
) -> Result<Vec<Resource>, ResourceError> {
    let mut segments = group_segments(account);
    segments.extend(["Microsoft.Compute", "virtualMachines"]);
    let mut url = arm.url(&segments, API_VERSION);
    url.query_pairs_mut().append_pair("$expand", "instanceView");
    let items = arm.list(url, "virtual machines").await?;
    Ok(items.iter().map(|item| resource(account, item)).collect())
}

/// Ensures the network, creates the NIC and asks ARM for the VM; it comes back `pending`.
pub(super) async fn create(
    arm: &Arm<'_>,
    account: &AzureAccount,
    request: &ResourceRequest,
) -> Result<Resource, ResourceError> {
    let region = region_of(account, request);
    let size = native_size(&request.size);
    let image = image_reference(request.image.as_deref().unwrap_or(DEFAULT_IMAGE))?;
    let key = match request.tags.get(SSH_KEY_TAG) {
        Some(key) => checked_key(key)?,
        None => unusable_key()?,
    };
    let mut tags: BTreeMap<String, String> = request.tags.clone();
    tags.remove(SSH_KEY_TAG);
    tags.insert(MANAGED_BY_TAG.to_owned(), "credless".to_owned());
    tags.insert("Name".to_owned(), request.name.clone());

    let vm_segments = vm_segments(account, &request.name);
    let url = arm.url(&vm_segments, API_VERSION);
    if arm.find(url.clone(), &request.name).await?.is_some() {
        return Err(ResourceError::Conflict {
            cloud_code: "ResourceExists".to_owned(),
            message: format!("a virtual machine named {} already exists", request.name),
        });
    }
    let subnet = ensure_subnet(arm, account, region).await?;
    let nic = ensure_nic(arm, account, region, &request.name, &subnet).await?;

    let body = json!({
        "location": region,
        "tags": tags,
        "properties": {
            "hardwareProfile": { "vmSize": size },
            "storageProfile": {
                "imageReference": image,
                "osDisk": {
                    "createOption": "FromImage",
                    "deleteOption": "Delete",
                    "managedDisk": { "storageAccountType": "StandardSSD_LRS" },
                },
            },
            "osProfile": {
                "computerName": request.name,
                "adminUsername": ADMIN_USERNAME,
                "linuxConfiguration": {
                    "disablePasswordAuthentication": true,
                    "ssh": { "publicKeys": [{
                        "path": format!("/home/{ADMIN_USERNAME}/.ssh/authorized_keys"),
                        "keyData": key,
                    }]},
                },
            },
            "networkProfile": { "networkInterfaces": [{
                "id": nic,
                "properties": { "primary": true, "deleteOption": "Delete" },
            }]},
        },
    });
    let answer = arm
        .call(Method::PUT, url, Some(&body), &request.name)
        .await?;
    // Compute answers `201` with the VM; should a body be missing, the request describes it.
    let shown = if answer.body.is_object() {
        answer.body
    } else {
        body
    };
    let mut resource = resource(account, &shown);
    resource.name.clone_from(&request.name);
    if matches!(resource.state, State::Unknown | State::Running) {
        resource.state = State::Pending;
    }
    Ok(resource)
}

/// A VM as the portable model shows it.
pub(super) fn resource(account: &AzureAccount, body: &Value) -> Resource {
    let properties = &body["properties"];
    let name = body["name"].as_str().unwrap_or_default();
    let location = body["location"].as_str().unwrap_or_default();
    let provisioning = properties["provisioningState"].as_str().unwrap_or_default();
    let statuses = properties["instanceView"]["statuses"].as_array();
    let power = statuses
        .into_iter()
        .flatten()
        .filter_map(|status| status["code"].as_str()?.strip_prefix("PowerState/"))
        .next();
    let (id, native_id) = portable_id(account, Kind::Vm, location, name);
    Resource {
        id,
        account: account.id.clone(),
        provider: ProviderKind::Azure,
        kind: Kind::Vm,
        name: name.to_owned(),
        region: location.to_owned(),
        size: properties["hardwareProfile"]["vmSize"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        native_id,
        state: state(provisioning, power),
        created_at: properties["timeCreated"].as_str().map(str::to_owned),
        tags: super::database::tags_of(body),
        details: json!({
            "provisioning_state": provisioning,
            "power_state": power,
            "vm_id": properties["vmId"],
            "admin_username": properties["osProfile"]["adminUsername"],
        }),
    }
}

fn vm_segments<'a>(account: &'a AzureAccount, name: &'a str) -> Vec<&'a str> {
    let mut segments = group_segments(account);
    segments.extend(["Microsoft.Compute", "virtualMachines", name]);
    segments
}

/// The id of the subnet `default` of the Credless network in `region`, creating the network
/// or the subnet when absent.
async fn ensure_subnet(
    arm: &Arm<'_>,
    account: &AzureAccount,
    region: &str,
) -> Result<String, ResourceError> {
    let vnet = if region.eq_ignore_ascii_case(&account.region) {
        "credless-vnet".to_owned()
    } else {
        format!("credless-vnet-{region}")
    };
    let mut segments = group_segments(account);
    segments.extend(["Microsoft.Network", "virtualNetworks", vnet.as_str()]);
    let vnet_id = format!("/{}", segments.join("/"));
    let subnet_id = format!("{vnet_id}/subnets/default");
    let url = arm.url(&segments, NETWORK_API_VERSION);

    let Some(existing) = arm.find(url.clone(), &vnet).await? else {
        let body = json!({
            "location": region,
            "tags": { MANAGED_BY_TAG: "credless" },
            "properties": {
                "addressSpace": { "addressPrefixes": [VNET_ADDRESS_SPACE] },
                "subnets": [{
                    "name": "default",
                    "properties": { "addressPrefix": SUBNET_PREFIX },
                }],
            },
        });
        arm.call(Method::PUT, url, Some(&body), &vnet).await?;
        return Ok(subnet_id);
    };
    let subnets = existing["properties"]["subnets"].as_array();
    if subnets
        .into_iter()
        .flatten()
        .any(|subnet| subnet["name"] == "default")
    {
        return Ok(subnet_id);
    }
    segments.extend(["subnets", "default"]);
    let body = json!({ "properties": { "addressPrefix": SUBNET_PREFIX } });
    let url = arm.url(&segments, NETWORK_API_VERSION);
    arm.call(Method::PUT, url, Some(&body), "subnet default")
        .await?;
    Ok(subnet_id)
}

/// The id of the NIC `<name>-nic`, creating it in `subnet` when absent.
async fn ensure_nic(
    arm: &Arm<'_>,
    account: &AzureAccount,
    region: &str,
    name: &str,
    subnet: &str,
) -> Result<String, ResourceError> {
    let nic = format!("{name}-nic");
    let mut segments = group_segments(account);
    segments.extend(["Microsoft.Network", "networkInterfaces", nic.as_str()]);
    let nic_id = format!("/{}", segments.join("/"));
    let url = arm.url(&segments, NETWORK_API_VERSION);
    if arm.find(url.clone(), &nic).await?.is_some() {
        return Ok(nic_id);
    }
    let body = json!({
        "location": region,
        "tags": { MANAGED_BY_TAG: "credless", "credless-vm": name },
        "properties": { "ipConfigurations": [{
            "name": "ipconfig1",
            "properties": { "subnet": { "id": subnet }, "privateIPAllocationMethod": "Dynamic" },
        }]},
    });
    arm.call(Method::PUT, url, Some(&body), &nic).await?;
    Ok(nic_id)
}

/// `publisher:offer:sku:version` as an ARM image reference.
fn image_reference(urn: &str) -> Result<Value, ResourceError> {
    let parts: Vec<&str> = urn.split(':').collect();
    match parts.as_slice() {
        [publisher, offer, sku, version] if parts.iter().all(|part| !part.is_empty()) => {
            Ok(json!({
                "publisher": publisher, "offer": offer, "sku": sku, "version": version,
            }))
        }
        _ => Err(ResourceError::Invalid {
            field: "image".to_owned(),
            reason: "use an image URN publisher:offer:sku:version, such as \
                     Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"
                .to_owned(),
            cloud_code: None,
        }),
    }
}

/// An OpenSSH public key line, as Azure accepts it.
fn checked_key(key: &str) -> Result<String, ResourceError> {
    let key = key.trim();
    let known = ["ssh-rsa ", "ssh-ed25519 ", "ecdsa-sha2-nistp"];
    if known.iter().any(|prefix| key.starts_with(prefix)) && !key.contains(['\n', '\r']) {
        return Ok(key.to_owned());
    }
    Err(ResourceError::Invalid {
        field: format!("tags.{SSH_KEY_TAG}"),
        reason: "use one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa)".to_owned(),
        cloud_code: None,
    })
}

/// The public half of an Ed25519 key whose private half is dropped here: a key nobody holds.
fn unusable_key() -> Result<String, ResourceError> {
    let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().map_err(|_| {
        ResourceError::Unavailable {
            cloud_code: None,
            message: "no random key could be generated".to_owned(),
        }
    })?;
    let public = aws_lc_rs::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec();
    let mut blob = Vec::with_capacity(51);
    for part in [b"ssh-ed25519".as_slice(), public.as_slice()] {
        blob.extend_from_slice(&u32::try_from(part.len()).unwrap_or(0).to_be_bytes());
        blob.extend_from_slice(part);
    }
    Ok(format!(
        "ssh-ed25519 {} credless-no-access",
        STANDARD.encode(blob)
    ))
}
