//! The cloud providers, configured from `[clouds.*]`, behind one exchanger.

use std::sync::Arc;

use credless_aws::{AwsConfig, AwsProvider};
use credless_azure::{AzureConfig, AzureProvider};
use credless_exchange::{ExchangeConfig, Exchanger, Provider};
use credless_gcp::{GcpConfig, GcpProvider};

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
