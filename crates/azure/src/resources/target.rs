//! Which resource an id names in an account, and the names and paths of resources.

use credless_registry::{AzureAccount, Provider as ProviderKind};
use credless_resources::{Kind, Resource, ResourceError, ResourceId, ResourceRequest, State};
use url::Url;

use super::arm::Arm;
use super::{database, vm};

/// The resource a [`ResourceId`] names in an account, checked to lie in its subscription and
/// resource group.
pub(super) struct Target {
    pub(super) kind: Kind,
    pub(super) name: String,
}

impl Target {
    /// Fails with [`ResourceError::NotFound`] for an id of another account, subscription,
    /// resource group or type.
    pub(super) fn of(account: &AzureAccount, id: &ResourceId) -> Result<Self, ResourceError> {
        let not_found = || ResourceError::NotFound {
            what: "resource".to_owned(),
        };
        if id.account != account.id {
            return Err(not_found());
        }
        let prefix = format!("{}/", native_prefix(account, id.kind));
        let name = id
            .native_id
            .get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(&prefix))
            .map(|_| &id.native_id[prefix.len()..])
            .ok_or_else(not_found)?;
        check_name(name).map_err(|_| not_found())?;
        Ok(Self {
            kind: id.kind,
            name: name.to_owned(),
        })
    }

    pub(super) fn segments<'a>(&'a self, account: &'a AzureAccount) -> Vec<&'a str> {
        let (namespace, kind) = type_of(self.kind);
        let mut segments = group_segments(account);
        segments.extend([namespace, kind, self.name.as_str()]);
        segments
    }

    pub(super) fn api_version(&self) -> &'static str {
        match self.kind {
            Kind::Vm => vm::API_VERSION,
            Kind::Database => database::API_VERSION,
        }
    }

    pub(super) fn read_url(&self, arm: &Arm<'_>, account: &AzureAccount) -> Url {
        let mut url = arm.url(&self.segments(account), self.api_version());
        if self.kind == Kind::Vm {
            url.query_pairs_mut().append_pair("$expand", "instanceView");
        }
        url
    }

    pub(super) fn resource(&self, account: &AzureAccount, body: &serde_json::Value) -> Resource {
        match self.kind {
            Kind::Vm => vm::resource(account, body),
            Kind::Database => database::resource(account, body),
        }
    }
}

/// `subscriptions/{id}/resourceGroups/{group}/providers` as URL segments.
pub(super) fn group_segments(account: &AzureAccount) -> Vec<&str> {
    vec![
        "subscriptions",
        &account.subscription_id,
        "resourceGroups",
        &account.resource_group,
        "providers",
    ]
}

pub(super) fn type_of(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Vm => ("Microsoft.Compute", "virtualMachines"),
        Kind::Database => ("Microsoft.DBforPostgreSQL", "flexibleServers"),
    }
}

/// The ARM id prefix of resources of `kind` in the account, without a trailing slash.
pub(super) fn native_prefix(account: &AzureAccount, kind: Kind) -> String {
    let (namespace, kind) = type_of(kind);
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/{namespace}/{kind}",
        account.subscription_id, account.resource_group
    )
}

/// The portable id of a resource of the account.
pub(super) fn portable_id(
    account: &AzureAccount,
    kind: Kind,
    location: &str,
    name: &str,
) -> (String, String) {
    let native_id = format!("{}/{name}", native_prefix(account, kind));
    let id = ResourceId {
        account: account.id.clone(),
        kind,
        location: location.to_owned(),
        native_id: native_id.clone(),
    };
    (id.encode(), native_id)
}

/// A resource that no longer exists.
pub(super) fn gone(account: &AzureAccount, id: &ResourceId, name: &str) -> Resource {
    Resource {
        id: id.encode(),
        account: account.id.clone(),
        provider: ProviderKind::Azure,
        kind: id.kind,
        name: name.to_owned(),
        region: id.location.clone(),
        size: String::new(),
        native_id: id.native_id.clone(),
        state: State::Deleted,
        created_at: None,
        tags: Default::default(),
        details: serde_json::Value::Null,
    }
}

/// Names are 1-63 of `[a-z0-9-]`, starting with a letter and not ending with `-`.
pub(super) fn check_name(name: &str) -> Result<(), ResourceError> {
    let valid = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        return Ok(());
    }
    Err(ResourceError::Invalid {
        field: "name".to_owned(),
        reason: "use 1-63 lowercase letters, digits and hyphens, starting with a letter".to_owned(),
        cloud_code: None,
    })
}

/// The request's region, or the account's when the request names none.
pub(super) fn region_of<'a>(account: &'a AzureAccount, request: &'a ResourceRequest) -> &'a str {
    if request.region.is_empty() {
        &account.region
    } else {
        &request.region
    }
}
