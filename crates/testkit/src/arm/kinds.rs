//! What each resource type looks like, how it moves through its states, and what a create
//! must carry.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{COMPUTE_API_VERSION, NETWORK_API_VERSION, POSTGRES_API_VERSION, Stored, Transition};

/// The resource types the fake stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    VirtualNetwork,
    Subnet,
    NetworkInterface,
    VirtualMachine,
    FlexibleServer,
}

impl Kind {
    /// The api-version ARM's resource provider for this type accepts (in the fake).
    pub(super) fn api_version(self) -> &'static str {
        match self {
            Self::VirtualNetwork | Self::Subnet | Self::NetworkInterface => NETWORK_API_VERSION,
            Self::VirtualMachine => COMPUTE_API_VERSION,
            Self::FlexibleServer => POSTGRES_API_VERSION,
        }
    }

    /// The resource provider namespace, as in async operation URLs.
    pub(super) fn namespace(self) -> &'static str {
        match self {
            Self::VirtualNetwork | Self::Subnet | Self::NetworkInterface => "Microsoft.Network",
            Self::VirtualMachine => "Microsoft.Compute",
            Self::FlexibleServer => "Microsoft.DBforPostgreSQL",
        }
    }

    /// The full type name, as in the `type` member.
    pub(super) fn type_name(self) -> &'static str {
        match self {
            Self::VirtualNetwork => "Microsoft.Network/virtualNetworks",
            Self::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            Self::NetworkInterface => "Microsoft.Network/networkInterfaces",
            Self::VirtualMachine => "Microsoft.Compute/virtualMachines",
            Self::FlexibleServer => "Microsoft.DBforPostgreSQL/flexibleServers",
        }
    }
}

/// A refusal as ARM writes it: status, code and message.
pub(super) type Refusal = (u16, &'static str, String);

impl Stored {
    /// The JSON a `GET` returns; a VM's instance view only when asked (`$expand`).
    pub(super) fn render(&self, instance_view: bool) -> Value {
        let mut body = self.body.clone();
        if self.kind == Kind::VirtualMachine && instance_view {
            let provisioning = body["properties"]["provisioningState"]
                .as_str()
                .unwrap_or("Succeeded")
                .to_ascii_lowercase();
            let mut statuses = vec![json!({
                "code": format!("ProvisioningState/{provisioning}"),
                "level": "Info",
                "displayStatus": display(&provisioning),
            })];
            if let Some(power) = self.power {
                statuses.push(json!({
                    "code": format!("PowerState/{power}"),
                    "level": "Info",
                    "displayStatus": format!("VM {power}"),
                }));
            }
            body["properties"]["instanceView"] = json!({ "statuses": statuses });
        }
        body
    }

    /// Starts a long-running change that settles after `steps` reads; whether the resource is
    /// gone at once (a delete with no steps).
    pub(super) fn begin(&mut self, transition: Transition, steps: u32) -> bool {
        match (self.kind, transition) {
            (Kind::VirtualMachine, Transition::Create) => self.vm("Creating", "starting"),
            (Kind::VirtualMachine, Transition::Start) => self.vm("Updating", "starting"),
            (Kind::VirtualMachine, Transition::Stop) => self.vm("Updating", "deallocating"),
            (Kind::VirtualMachine, Transition::Delete) => {
                self.body["properties"]["provisioningState"] = json!("Deleting");
            }
            (Kind::FlexibleServer, Transition::Create) => self.server("Provisioning"),
            (Kind::FlexibleServer, Transition::Start) => self.server("Starting"),
            (Kind::FlexibleServer, Transition::Stop) => self.server("Stopping"),
            (Kind::FlexibleServer, Transition::Delete) => self.server("Dropping"),
            // Network resources settle at once.
            (_, Transition::Delete) => return true,
            _ => {
                self.body["properties"]["provisioningState"] = json!("Succeeded");
                return false;
            }
        }
        self.transition = Some((transition, steps));
        steps == 0 && self.finish()
    }

    /// One read of the resource or its operation; whether the resource is now gone.
    pub(super) fn observe(&mut self) -> bool {
        match &mut self.transition {
            Some((_, left)) if *left > 1 => {
                *left -= 1;
                false
            }
            Some(_) => self.finish(),
            None => false,
        }
    }

    /// Settles the change under way; whether the resource is now gone.
    fn finish(&mut self) -> bool {
        let Some((transition, _)) = self.transition.take() else {
            return false;
        };
        match (self.kind, transition) {
            (_, Transition::Delete) => return true,
            (Kind::VirtualMachine, Transition::Stop) => self.vm("Succeeded", "deallocated"),
            (Kind::VirtualMachine, _) => self.vm("Succeeded", "running"),
            (Kind::FlexibleServer, Transition::Stop) => self.server("Stopped"),
            (Kind::FlexibleServer, _) => self.server("Ready"),
            _ => {}
        }
        false
    }

    fn vm(&mut self, provisioning: &str, power: &'static str) {
        self.body["properties"]["provisioningState"] = json!(provisioning);
        self.power = Some(power);
    }

    fn server(&mut self, state: &str) {
        self.body["properties"]["state"] = json!(state);
    }
}

/// `creating` → `Creating`.
fn display(state: &str) -> String {
    let mut chars = state.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// Checks a new VM as Compute does: size, image, Linux authentication, network interfaces.
pub(super) fn check_vm(body: &Value, resources: &BTreeMap<String, Stored>) -> Result<(), Refusal> {
    let properties = &body["properties"];
    let invalid = |target: &str, message: String| {
        (
            400,
            "InvalidParameter",
            format!("{message} Target: '{target}'."),
        )
    };
    let size = properties["hardwareProfile"]["vmSize"]
        .as_str()
        .unwrap_or("");
    if !size.starts_with("Standard_") {
        let message = format!("The value '{size}' provided for the VM size is not valid.");
        return Err(invalid("vmSize", message));
    }
    let image = &properties["storageProfile"]["imageReference"];
    if !["publisher", "offer", "sku", "version"]
        .iter()
        .all(|k| image[k].is_string())
    {
        let message = "Required parameter 'imageReference' is missing (null).".to_owned();
        return Err(invalid("imageReference", message));
    }
    let os = &properties["osProfile"];
    if os["adminUsername"].as_str().is_none_or(str::is_empty) {
        let message = "Required parameter 'adminUsername' is missing (null).".to_owned();
        return Err(invalid("adminUsername", message));
    }
    let linux = &os["linuxConfiguration"];
    let no_password = linux["disablePasswordAuthentication"].as_bool() == Some(true);
    let keys = linux["ssh"]["publicKeys"].as_array().map_or(0, Vec::len);
    if no_password && os.get("adminPassword").is_some() {
        let message = "Admin password cannot be specified when password authentication is \
                       disabled."
            .to_owned();
        return Err(invalid("adminPassword", message));
    }
    if (no_password && keys == 0) || (!no_password && os.get("adminPassword").is_none()) {
        let message = "Authentication using either SSH or by user name and password must be \
                       enabled in Linux profile."
            .to_owned();
        return Err(invalid("linuxConfiguration", message));
    }
    let nics = properties["networkProfile"]["networkInterfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if nics.is_empty() {
        let message = "The VM must have at least one network interface.".to_owned();
        return Err(invalid("networkProfile", message));
    }
    for nic in nics {
        let id = nic["id"].as_str().unwrap_or_default();
        let exists = resources
            .get(&id.to_ascii_lowercase())
            .is_some_and(|r| r.kind == Kind::NetworkInterface);
        if !exists {
            return Err(missing_reference(id, body));
        }
    }
    Ok(())
}

/// Checks a new NIC as Network does: each IP configuration names an existing subnet.
pub(super) fn check_nic(body: &Value, resources: &BTreeMap<String, Stored>) -> Result<(), Refusal> {
    let configurations = body["properties"]["ipConfigurations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if configurations.is_empty() {
        let message = "Network interface must have at least one IP configuration.".to_owned();
        return Err((
            400,
            "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
            message,
        ));
    }
    for configuration in configurations {
        let subnet = configuration["properties"]["subnet"]["id"]
            .as_str()
            .unwrap_or_default();
        let exists = resources
            .get(&subnet.to_ascii_lowercase())
            .is_some_and(|r| r.kind == Kind::Subnet);
        if !exists {
            return Err(missing_reference(subnet, body));
        }
    }
    Ok(())
}

/// Checks a new flexible server: a SKU, and an administrator login unless password
/// authentication is disabled.
pub(super) fn check_server(body: &Value) -> Result<(), Refusal> {
    let sku = &body["sku"];
    if sku["name"].as_str().is_none() || sku["tier"].as_str().is_none() {
        let message = "The SKU name and tier are required.".to_owned();
        return Err((400, "InvalidParameterValue", message));
    }
    let properties = &body["properties"];
    let password_auth = properties["authConfig"]["passwordAuth"]
        .as_str()
        .unwrap_or("Enabled");
    let has_login = properties["administratorLogin"].is_string()
        && properties["administratorLoginPassword"].is_string();
    if password_auth.eq_ignore_ascii_case("Enabled") && !has_login {
        let message = "The administrator login and password are required when password \
                       authentication is enabled."
            .to_owned();
        return Err((400, "InvalidParameterValue", message));
    }
    let entra = properties["authConfig"]["activeDirectoryAuth"]
        .as_str()
        .unwrap_or("Disabled");
    if !password_auth.eq_ignore_ascii_case("Enabled") && !entra.eq_ignore_ascii_case("Enabled") {
        let message = "At least one authentication method must be enabled.".to_owned();
        return Err((400, "InvalidParameterValue", message));
    }
    Ok(())
}

fn missing_reference(id: &str, body: &Value) -> Refusal {
    let referrer = body["id"].as_str().unwrap_or_default();
    let message = format!("Resource {id} referenced by resource {referrer} was not found.");
    (400, "InvalidResourceReference", message)
}
