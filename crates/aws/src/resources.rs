//! EC2 instances and RDS database instances behind the one resource interface.
//!
//! [`AwsResources`] implements [`ResourceProvider`]: VMs are EC2 instances, databases are RDS DB
//! instances, and every call acts with the caller's own temporary credentials
//! ([`Credentials::Aws`] from the exchange). [`AwsResourcesConfig`] sets the endpoints and the
//! timeouts.
//!
//! # How requests are made
//!
//! Each call is one EC2 or RDS Query API request (`POST /`, a form body with `Action` and
//! `Version`), signed with SigV4 by the official `aws-sigv4` crate (the session token goes in
//! `X-Amz-Security-Token`) and sent through Credless's guarded outbound client. The service
//! SDKs would do the same, but `aws-sdk-ec2` alone takes minutes to build on two cores, while
//! `aws-sigv4` is already built for `aws-sdk-sts`. Answers are XML, read with `quick-xml`'s
//! serde support into small structs: one well-kept crate of a few seconds' build, declarative
//! where a hand parser would be a page of state machine. Each call is one attempt; nothing is
//! retried or awaited.
//!
//! # Sizes
//!
//! | portable | EC2 instance type | RDS instance class |
//! |----------|-------------------|--------------------|
//! | `small`  | `t3.small`        | `db.t4g.micro`     |
//! | `medium` | `t3.large`        | `db.t4g.large`     |
//! | `large`  | `t3.xlarge`       | `db.m6g.xlarge`    |
//!
//! Any other size is passed to AWS as a native type or class.
//!
//! # States
//!
//! | portable   | EC2                | RDS                                                    |
//! |------------|--------------------|--------------------------------------------------------|
//! | `pending`  | `pending`          | `creating`, `backing-up`, `modifying`, `starting`, …   |
//! | `running`  | `running`          | `available`                                            |
//! | `stopping` | `stopping`         | `stopping`                                             |
//! | `stopped`  | `stopped`          | `stopped`                                              |
//! | `deleting` | `shutting-down`    | `deleting`                                             |
//! | `deleted`  | `terminated`       | (RDS forgets the instance: `get` finds nothing)        |
//! | `error`    |                    | `failed`, `incompatible-*`, `inaccessible-*`, …        |
//!
//! # What is created
//!
//! Every resource is tagged `managed-by=credless`, `Name=<name>` and with the request's tags;
//! `Name` is shown as the resource's name rather than as a tag. An EC2 instance needs an AMI
//! (`image`) and gets the account's default VPC, subnet and security group. An RDS instance
//! gets 20 GiB, IAM database authentication, and a master user `credless_admin` whose password
//! RDS generates and keeps in Secrets Manager (`ManageMasterUserPassword`): Credless never sees
//! a database password. Deleting an RDS instance skips the final snapshot, because the caller
//! asked for the database to go; automated backups are deleted with it.
//!
//! This module does not create networks, key pairs or Aurora clusters.

mod ec2;
mod errors;
mod query;
mod rds;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use credless_exchange::{AwsCredentials, Credentials, ExchangeError};
use credless_registry::{Account, Provider as ProviderKind};
use credless_resources::{
    Created, Kind, Resource, ResourceContext, ResourceError, ResourceId, ResourceProvider,
    ResourceRequest,
};
use credless_session::outbound::{self, OutboundOptions};

use query::{Api, Service};

/// The tag every resource Credless creates carries, and its value.
const MANAGED_BY: (&str, &str) = ("managed-by", "credless");

/// The tag AWS consoles show as a resource's name.
const NAME_TAG: &str = "Name";

/// Where and how [`AwsResources`] calls EC2 and RDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResourcesConfig {
    /// The EC2 endpoint URL; empty (the default) means `https://ec2.<region>.amazonaws.com`.
    pub ec2_endpoint: String,
    /// The RDS endpoint URL; empty (the default) means `https://rds.<region>.amazonaws.com`.
    pub rds_endpoint: String,
    /// Longest wait for one call, from sending to the end of the answer.
    pub timeout: Duration,
    /// Longest wait for a TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Allow `http://` and internal addresses for the endpoints (local development and tests).
    pub allow_insecure_upstreams: bool,
}

impl Default for AwsResourcesConfig {
    fn default() -> Self {
        Self {
            ec2_endpoint: String::new(),
            rds_endpoint: String::new(),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(3),
            allow_insecure_upstreams: false,
        }
    }
}

impl AwsResourcesConfig {
    /// The default configuration with one endpoint for both EC2 and RDS, as fakes serve them.
    pub fn with_endpoint(endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        Self {
            ec2_endpoint: endpoint.clone(),
            rds_endpoint: endpoint,
            ..Self::default()
        }
    }

    /// Checks the configuration.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when a timeout is zero or an endpoint is
    /// not an `https` URL (or `http`, or an internal address, without
    /// `allow_insecure_upstreams`).
    pub fn validate(&self) -> Result<(), ExchangeError> {
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(misconfigured(
                "the AWS resource timeouts must be longer than zero",
            ));
        }
        for (name, endpoint) in [("EC2", &self.ec2_endpoint), ("RDS", &self.rds_endpoint)] {
            if !endpoint.is_empty() {
                outbound::check_upstream(endpoint, self.allow_insecure_upstreams).map_err(
                    |error| misconfigured(&format!("the AWS {name} endpoint is refused: {error}")),
                )?;
            }
        }
        Ok(())
    }
}

/// EC2 instances and RDS DB instances, reached with the caller's AWS credentials.
#[derive(Debug, Clone)]
pub struct AwsResources {
    config: AwsResourcesConfig,
    http: reqwest::Client,
}

impl AwsResources {
    /// A provider calling EC2 and RDS as `config` says.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when the configuration is invalid (see
    /// [`AwsResourcesConfig::validate`]) or the TLS backend cannot start.
    pub fn new(config: AwsResourcesConfig) -> Result<Self, ExchangeError> {
        config.validate()?;
        let options = OutboundOptions {
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            allow_insecure_upstreams: config.allow_insecure_upstreams,
        };
        let http = outbound::client(&options).map_err(|error| {
            misconfigured(&format!(
                "the HTTP client for EC2 and RDS cannot start: {error}"
            ))
        })?;
        Ok(Self { config, http })
    }

    /// The configuration in use.
    pub fn config(&self) -> &AwsResourcesConfig {
        &self.config
    }

    /// The API of `kind`'s service in `region`, called with the context's credentials.
    fn api<'a>(
        &'a self,
        cx: &ResourceContext<'a>,
        kind: Kind,
        region: &'a str,
    ) -> Result<Api<'a>, ResourceError> {
        let credentials = aws_credentials(cx)?;
        check_region(region)?;
        let (service, configured) = match kind {
            Kind::Vm => (Service::EC2, &self.config.ec2_endpoint),
            Kind::Database => (Service::RDS, &self.config.rds_endpoint),
        };
        Ok(Api::new(
            &self.http,
            service,
            configured,
            region,
            credentials,
            cx.account.id(),
        ))
    }

    /// The API serving `id`, after checking the id belongs to the context's account.
    fn api_for<'a>(
        &'a self,
        cx: &ResourceContext<'a>,
        id: &'a ResourceId,
    ) -> Result<Api<'a>, ResourceError> {
        if id.account != cx.account.id() {
            return Err(ResourceError::NotFound {
                what: "resource".to_owned(),
            });
        }
        self.api(cx, id.kind, &id.location)
    }
}

#[async_trait]
impl ResourceProvider for AwsResources {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    async fn list(
        &self,
        cx: ResourceContext<'_>,
        kind: Kind,
        managed_only: bool,
    ) -> Result<Vec<Resource>, ResourceError> {
        let api = self.api(&cx, kind, account_region(&cx)?)?;
        match kind {
            Kind::Vm => ec2::list(&api, managed_only).await,
            Kind::Database => rds::list(&api, managed_only).await,
        }
    }

    async fn get(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        let api = self.api_for(&cx, id)?;
        match id.kind {
            Kind::Vm => ec2::get(&api, &id.native_id).await,
            Kind::Database => rds::get(&api, &id.native_id).await,
        }
    }

    async fn create(
        &self,
        cx: ResourceContext<'_>,
        request: &ResourceRequest,
    ) -> Result<Created, ResourceError> {
        let region = if request.region.is_empty() {
            account_region(&cx)?
        } else {
            &request.region
        };
        let api = self.api(&cx, request.kind, region)?;
        let resource = match request.kind {
            Kind::Vm => ec2::create(&api, request).await?,
            Kind::Database => rds::create(&api, request).await?,
        };
        Ok(Created {
            resource,
            one_time_secret: None,
        })
    }

    async fn start(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        let api = self.api_for(&cx, id)?;
        match id.kind {
            Kind::Vm => ec2::change_state(&api, ec2::Change::Start, &id.native_id).await,
            Kind::Database => rds::change_state(&api, rds::Change::Start, &id.native_id).await,
        }
    }

    async fn stop(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        let api = self.api_for(&cx, id)?;
        match id.kind {
            Kind::Vm => ec2::change_state(&api, ec2::Change::Stop, &id.native_id).await,
            Kind::Database => rds::change_state(&api, rds::Change::Stop, &id.native_id).await,
        }
    }

    async fn delete(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        let api = self.api_for(&cx, id)?;
        match id.kind {
            Kind::Vm => ec2::change_state(&api, ec2::Change::Terminate, &id.native_id).await,
            Kind::Database => rds::change_state(&api, rds::Change::Delete, &id.native_id).await,
        }
    }
}

/// The tags a new resource gets: the request's, then `Name` and `managed-by`, which win.
fn tags_for(request: &ResourceRequest) -> BTreeMap<String, String> {
    let mut tags = request.tags.clone();
    tags.insert(NAME_TAG.to_owned(), request.name.clone());
    tags.insert(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned());
    tags
}

/// Whether a resource's tags mark it as created by Credless.
fn is_managed(tags: &BTreeMap<String, String>) -> bool {
    tags.get(MANAGED_BY.0)
        .is_some_and(|value| value == MANAGED_BY.1)
}

/// The caller's AWS credentials, or `Denied` when the exchange gave another cloud's.
fn aws_credentials<'a>(cx: &ResourceContext<'a>) -> Result<&'a AwsCredentials, ResourceError> {
    match cx.credentials {
        Credentials::Aws(aws) => Ok(aws),
        _ => Err(ResourceError::Denied {
            cloud_code: "WrongCloud".to_owned(),
            message: "these credentials are not AWS credentials".to_owned(),
        }),
    }
}

/// The account's default region.
fn account_region<'a>(cx: &ResourceContext<'a>) -> Result<&'a str, ResourceError> {
    match cx.account {
        Account::Aws(account) => Ok(&account.region),
        other => Err(ResourceError::Invalid {
            field: "account".to_owned(),
            reason: format!("account {} is not an AWS account", other.id()),
            cloud_code: None,
        }),
    }
}

/// Refuses a region that cannot be part of an AWS host name; ids come from URLs, so this also
/// keeps a forged id from steering a call to another host.
fn check_region(region: &str) -> Result<(), ResourceError> {
    let valid = (1..=32).contains(&region.len())
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && region.ends_with(|c: char| c.is_ascii_digit())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ResourceError::Invalid {
            field: "region".to_owned(),
            reason: "an AWS region looks like `us-east-1` (not a zone such as `us-east-1a`)"
                .to_owned(),
            cloud_code: None,
        })
    }
}

fn misconfigured(reason: &str) -> ExchangeError {
    ExchangeError::Misconfigured {
        reason: reason.to_owned(),
        cloud_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_that_could_change_the_host_are_refused() {
        for region in ["us-east-1", "eu-central-2", "cn-north-1", "us-gov-west-1"] {
            assert!(check_region(region).is_ok(), "{region}");
        }
        for region in [
            "",
            "evil.example/",
            "us-east-1.attacker",
            "US-EAST-1",
            "1abc",
            "a:80",
            "us-east-1a",
        ] {
            assert!(
                matches!(check_region(region), Err(ResourceError::Invalid { ref field, .. })
                    if field == "region"),
                "{region}"
            );
        }
    }

    #[test]
    fn created_resources_are_always_marked_as_managed_with_their_name() {
        let request = ResourceRequest {
            kind: Kind::Vm,
            name: "web-1".to_owned(),
            region: String::new(),
            size: "small".to_owned(),
            image: None,
            engine: None,
            engine_version: None,
            tags: BTreeMap::from([
                ("team".to_owned(), "web".to_owned()),
                ("managed-by".to_owned(), "someone-else".to_owned()),
            ]),
        };
        let tags = tags_for(&request);
        assert_eq!(tags["team"], "web");
        assert_eq!(tags["Name"], "web-1");
        assert!(is_managed(&tags));
    }

    #[test]
    fn endpoints_must_be_https_unless_insecure_upstreams_are_allowed() {
        let plain = AwsResourcesConfig::with_endpoint("http://127.0.0.1:5000");
        assert!(plain.validate().is_err());
        let allowed = AwsResourcesConfig {
            allow_insecure_upstreams: true,
            ..plain
        };
        assert!(allowed.validate().is_ok());
        assert!(AwsResourcesConfig::default().validate().is_ok());
    }
}
