//! From a signed-in person to an Azure Resource Manager call made as that person, through
//! azure_core's `TokenCredential`.
//!
//! The session layer verifies the person's ID token (here through `SessionValidator` directly).
//! `FederatedUserCredential` presents that token to Microsoft Entra as the federated
//! `client_assertion` of an app registration that trusts the organisation's identity provider
//! for this person, and Entra answers with a short-lived access token of that app. Because it
//! implements `azure_core::credentials::TokenCredential`, any Azure SDK client takes it as its
//! credential; here the token is sent by hand, as a client would, to list the virtual machines
//! of a resource group.
//!
//! Entra, Azure Resource Manager, the identity provider and the oauth2-proxy are the testkit's
//! fakes, so this runs anywhere: `cargo run --example azure_credential`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on the terminal"
)]

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential as _;
use credless::azure::{AzureConfig, AzureProvider, DEFAULT_SCOPE, FederatedUserCredential};
use credless::registry::{AzureAccount, Oidc, Tenant};
use credless::session::{Identity, SessionConfig, SessionValidator};
use credless_testkit::arm::{COMPUTE_API_VERSION, FakeArm};
use credless_testkit::entra::FakeEntra;
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use http::HeaderMap;

/// Any error of the example, shown by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The Entra directory (tenant id) of the organisation.
const DIRECTORY: &str = "11111111-2222-3333-4444-555555555555";
/// The app registration Credless acts as.
const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
/// The subscription and resource group the person works in.
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000003";
const RESOURCE_GROUP: &str = "dev";

/// What the example found out.
#[derive(Debug)]
struct Outcome {
    /// Whose ID token Entra accepted (the federated credential's subject).
    subject: String,
    /// The scope Entra issued the token for.
    scope: String,
    /// How long the access token stays valid, as Entra said.
    valid_for: Duration,
    /// The names of the virtual machines ARM listed with that token.
    virtual_machines: Vec<String>,
}

/// Jane signs in; her verified identity is what Credless's session layer would hand you.
async fn signed_in_identity(proxy: &OAuth2Proxy, tenant: &Tenant) -> Result<Identity, Error> {
    let validator = SessionValidator::new(SessionConfig {
        allow_insecure_upstreams: true, // the fakes are plain http on loopback
        ..SessionConfig::default()
    })?;
    let cookies = proxy.sign_in(User::new("user-jane", "jane@acme.example"));
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        OAuth2Proxy::cookie_header(&cookies).parse()?,
    );
    let validated = validator.validate(tenant, &headers).await?;
    Ok(validated.identity.as_ref().clone())
}

async fn run() -> Result<Outcome, Error> {
    let (idp, entra, arm) =
        tokio::join!(OidcProvider::start(), FakeEntra::start(), FakeArm::start());
    let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
    let audience = proxy.options().client_id.clone();

    // What an Azure administrator sets up once: an app registration with a federated identity
    // credential for each person (`credless::azure::trust_guidance` writes the `az` commands),
    // and a role assignment on the resource group. One VM exists already.
    entra.add_app(DIRECTORY, CLIENT_ID);
    entra.add_federated_credential(DIRECTORY, CLIENT_ID, &idp.issuer(), "user-jane", &audience)?;
    let tags = serde_json::json!({"team": "data"});
    arm.seed_virtual_machine(SUBSCRIPTION, RESOURCE_GROUP, "build-01", "westeurope", tags);

    // What Credless knows: the tenant and the Azure account binding its people may use.
    let tenant = Tenant {
        id: "acme".to_owned(),
        admin_email: "ops@acme.example".to_owned(),
        hostnames: Vec::new(),
        proxy_url: proxy.url(),
        cookie_name: proxy.options().cookie_name.clone(),
        oidc: Oidc {
            issuer: idp.issuer(),
            audiences: vec![audience],
        },
        admin_groups: Vec::new(),
    };
    let account = AzureAccount {
        id: "dev-azure".to_owned(),
        display_name: None,
        allowed_groups: Vec::new(),
        tenant_id: DIRECTORY.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        subscription_id: SUBSCRIPTION.to_owned(),
        resource_group: RESOURCE_GROUP.to_owned(),
        region: "westeurope".to_owned(),
    };
    let identity = signed_in_identity(&proxy, &tenant).await?;

    // One provider per process; in production `AzureConfig::default()` talks to
    // login.microsoftonline.com. The credential is per person: never share one between people.
    let provider = Arc::new(AzureProvider::new(AzureConfig {
        authority_host: entra.authority_host(),
        allow_insecure_upstreams: true,
        ..AzureConfig::default()
    })?);
    let credential = FederatedUserCredential::new(provider, identity, account);

    // What an Azure SDK client does before each call: ask its credential for a token.
    let token = credential.get_token(&[DEFAULT_SCOPE], None).await?;
    let valid_for = token.expires_on - azure_core::time::OffsetDateTime::now_utc();

    // The fake ARM takes any bearer token unless told otherwise; make it accept this one only,
    // as real ARM accepts only tokens Entra issued.
    arm.require_token(token.token.secret());
    let url = format!(
        "{}/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/\
         Microsoft.Compute/virtualMachines?api-version={COMPUTE_API_VERSION}",
        arm.management_endpoint()
    );
    let listed: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(token.token.secret())
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let virtual_machines = listed["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|vm| vm["name"].as_str().map(str::to_owned))
        .collect();

    let issued = entra.exchanges();
    let exchange = issued.first().ok_or("Entra issued no token")?;
    Ok(Outcome {
        subject: exchange.subject.clone(),
        scope: exchange.scope.clone(),
        valid_for: Duration::try_from(valid_for).unwrap_or_default(),
        virtual_machines,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let outcome = run().await?;
    println!("Entra trusted:  {}", outcome.subject);
    println!(
        "token for {} valid for {} s",
        outcome.scope,
        outcome.valid_for.as_secs()
    );
    println!("virtual machines: {:?}", outcome.virtual_machines);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn arm_is_called_with_a_token_entra_issued_for_the_person() {
        let outcome = run().await.expect("the example runs");

        assert_eq!(outcome.subject, "user-jane");
        assert_eq!(outcome.scope, "https://management.azure.com/.default");
        assert!(
            outcome.valid_for > Duration::from_secs(30 * 60),
            "{:?}",
            outcome.valid_for
        );
        assert_eq!(outcome.virtual_machines, ["build-01"]);
    }
}
