//! The cloud providers, configured from `[clouds.*]`: token exchange behind one exchanger, and
//! the resource providers.

use std::sync::Arc;

use credless_aws::resources::{AwsResources, AwsResourcesConfig};
use credless_aws::{AwsConfig, AwsProvider};
use credless_azure::resources::{AzureResources, AzureResourcesConfig};
use credless_azure::{AzureConfig, AzureProvider};
use credless_exchange::{ExchangeConfig, Exchanger, Provider};
use credless_gcp::resources::{GcpResources, ResourcesConfig as GcpResourcesConfig};
use credless_gcp::{GcpConfig, GcpProvider};
use credless_resources::ResourceProvider;

use crate::config::Config;
use crate::error::Error;

/// Builds the AWS, Azure and GCP providers and the exchanger over them.
///
/// Fails when an endpoint in `[clouds.*]` is unusable.
pub(crate) fn exchanger(config: &Config) -> Result<Exchanger, Error> {
    let insecure = config.server.allow_insecure_upstreams;
    let clouds = &config.clouds;
    let invalid = |key: &str| {
        let key = key.to_owned();
        move |error: credless_exchange::ExchangeError| {
            Error::Config(format!("clouds.{key}: {error}"))
        }
    };
    let aws = AwsProvider::new(AwsConfig {
        sts_endpoint: clouds.aws.sts_endpoint.clone(),
        allow_insecure_upstreams: insecure,
        ..AwsConfig::default()
    })
    .map_err(invalid("aws.sts_endpoint"))?;
    let azure = AzureProvider::new(AzureConfig {
        authority_host: clouds.azure.authority_host.clone(),
        allow_insecure_upstreams: insecure,
        ..AzureConfig::default()
    })
    .map_err(invalid("azure.authority_host"))?;
    let gcp = GcpProvider::new(GcpConfig {
        sts_endpoint: clouds.gcp.sts_endpoint.clone(),
        iam_credentials_endpoint: clouds.gcp.iam_credentials_endpoint.clone(),
        allow_insecure_upstreams: insecure,
        ..GcpConfig::default()
    })
    .map_err(invalid("gcp"))?;
    let providers: Vec<Arc<dyn Provider>> = vec![Arc::new(aws), Arc::new(azure), Arc::new(gcp)];
    Ok(Exchanger::new(providers, ExchangeConfig::default()))
}

/// Builds the AWS, Azure and GCP resource providers.
///
/// Fails when an endpoint in `[clouds.*]` is unusable.
pub(crate) fn resources(config: &Config) -> Result<Vec<Arc<dyn ResourceProvider>>, Error> {
    let insecure = config.server.allow_insecure_upstreams;
    let clouds = &config.clouds;
    let aws = AwsResources::new(AwsResourcesConfig {
        ec2_endpoint: clouds.aws.ec2_endpoint.clone(),
        rds_endpoint: clouds.aws.rds_endpoint.clone(),
        allow_insecure_upstreams: insecure,
        ..AwsResourcesConfig::default()
    })
    .map_err(|error| Error::Config(format!("clouds.aws: {error}")))?;
    let azure = AzureResources::new(&AzureResourcesConfig {
        management_endpoint: clouds.azure.management_endpoint.clone(),
        allow_insecure_upstreams: insecure,
        ..AzureResourcesConfig::default()
    })
    .map_err(|error| Error::Config(format!("clouds.azure.management_endpoint: {error}")))?;
    let gcp = GcpResources::new(GcpResourcesConfig {
        compute_endpoint: clouds.gcp.compute_endpoint.clone(),
        sql_admin_endpoint: clouds.gcp.sql_admin_endpoint.clone(),
        allow_insecure_upstreams: insecure,
        ..GcpResourcesConfig::default()
    })
    .map_err(|error| Error::Config(format!("clouds.gcp: {error}")))?;
    Ok(vec![Arc::new(aws), Arc::new(azure), Arc::new(gcp)])
}
