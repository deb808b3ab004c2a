//! The AWS provider against moto, an independent implementation of STS: a real exchange, and
//! an SDK client using the exchanged credentials.
//!
//! moto accepts any token and any role, so only the success path is tested here.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use std::sync::Arc;

use aws_sdk_sts::config::{BehaviorVersion, Region};
use credless_aws::{AwsProvider, ExchangedCredentials, sdk_http_client};
use credless_exchange::{Credentials, ExchangeRequest, Provider as _};
use credless_session::outbound::{self, OutboundOptions};
use credless_testkit::OidcProvider;
use credless_testkit::moto::MotoServer;
use support::{AUDIENCE, ROLE_ARN, account, config_for, identity, tenant};

#[tokio::test]
async fn moto_issues_credentials_that_an_sdk_client_can_use() {
    let (moto, idp) = tokio::join!(MotoServer::start(), OidcProvider::start());
    let moto = moto.unwrap();
    moto.reset().await.unwrap();
    let provider = AwsProvider::new(config_for(&moto.endpoint())).unwrap();
    let tenant = tenant(&idp.issuer());
    let account = account(ROLE_ARN);
    let token = idp.id_token("user-1", "Jane Doe@acme.example", AUDIENCE, &[]);
    let jane = identity("user-1", Some("Jane Doe@acme.example"), token);
    let request = ExchangeRequest {
        tenant: &tenant,
        identity: &jane,
        account: &account,
    };

    let Credentials::Aws(aws) = provider.exchange(request).await.unwrap() else {
        panic!("not AWS credentials");
    };
    assert_eq!(
        aws.assumed_role_arn,
        "arn:aws:sts::123456789012:assumed-role/credless/Jane-Doe@acme.example"
    );
    assert!(aws.expires_at > std::time::SystemTime::now());

    let exchanged = ExchangedCredentials::new(move || {
        let aws = aws.clone();
        async move { Ok(Arc::new(Credentials::Aws(aws))) }
    });
    let http = outbound::client(&OutboundOptions {
        allow_insecure_upstreams: true,
        ..OutboundOptions::default()
    })
    .unwrap();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .http_client(sdk_http_client(http))
        .credentials_provider(exchanged)
        .build();
    let caller = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .unwrap();

    assert_eq!(
        caller.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/credless/Jane-Doe@acme.example")
    );
}
