//! The portable model of the contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A virtual machine.
    Vm,
    /// A managed database server.
    Database,
}

/// The one state machine every cloud's states map onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Being created (or started, for clouds that do not distinguish).
    Pending,
    /// Up and serving.
    Running,
    /// Being stopped.
    Stopping,
    /// Stopped; can be started again.
    Stopped,
    /// Being deleted.
    Deleting,
    /// Gone.
    Deleted,
    /// Failed; the cloud's details say why.
    Error,
    /// A state Credless does not know.
    Unknown,
}

/// Portable size classes, mapped to each cloud's native sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeClass {
    /// About 2 vCPUs and 2-4 GiB.
    Small,
    /// About 2-4 vCPUs and 8 GiB.
    Medium,
    /// About 4-8 vCPUs and 16-32 GiB.
    Large,
}

impl SizeClass {
    /// Parses `small`, `medium` or `large`; anything else is a native size.
    pub fn parse(size: &str) -> Option<Self> {
        match size {
            "small" => Some(Self::Small),
            "medium" => Some(Self::Medium),
            "large" => Some(Self::Large),
            _ => None,
        }
    }
}

/// A request to create a resource (`POST …/resources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRequest {
    /// `vm` or `database`.
    pub kind: Kind,
    /// The resource's name: 1-63 of `[a-z0-9-]`, starting with a letter.
    pub name: String,
    /// The region (or, where a cloud needs one, a zone) to create it in.
    pub region: String,
    /// `small`, `medium`, `large`, or a provider-native size.
    pub size: String,
    /// VMs: the provider's image reference (AMI id, image URN, image family or self link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Databases: the engine, such as `postgres`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Databases: the engine version, such as `16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Tags (labels) to put on the resource.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// A resource as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// URL-safe, stable id ([`crate::ResourceId`]).
    pub id: String,
    /// The account id.
    pub account: String,
    /// `aws`, `azure` or `gcp`.
    pub provider: credless_registry::Provider,
    /// `vm` or `database`.
    pub kind: Kind,
    /// The resource's name.
    pub name: String,
    /// Region (or zone).
    pub region: String,
    /// The native size.
    pub size: String,
    /// The cloud's own id (instance id, resource id, self link).
    pub native_id: String,
    /// The portable state.
    pub state: State,
    /// When it was created, RFC 3339, when the cloud says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Tags (labels).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Cloud-specific details: native state, addresses, endpoints; never a secret, except a
    /// generated database password returned once at creation (see [`crate::Created`]).
    #[serde(default)]
    pub details: serde_json::Value,
}
