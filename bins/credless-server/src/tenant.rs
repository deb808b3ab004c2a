//! `credless tenant add|list|show|remove`: tenants managed directly in the configured store.
//!
//! A running gateway on the same store notices these changes within about a second.

use std::io::Read;

use anyhow::Context as _;

use credless_registry::RegistryError;
use credless_registry::model::{DEFAULT_COOKIE_NAME, Oidc, Tenant};

use crate::Failure;
use crate::cli::{TenantAdd, TenantCommand};

pub(crate) async fn run(command: TenantCommand) -> Result<(), Failure> {
    match command {
        TenantCommand::Add(add) => {
            let registry = credless_gateway::open_registry(&add.config.load()?).await?;
            let tenant = tenant_from(&add)?;
            let created = registry
                .create_tenant(tenant)
                .await
                .map_err(registry_failure)?;
            print_json(&created)
        }
        TenantCommand::List(config) => {
            let registry = credless_gateway::open_registry(&config.load()?).await?;
            let tenants = registry.tenants().await.map_err(registry_failure)?;
            print_json(&serde_json::json!({ "tenants": tenants }))
        }
        TenantCommand::Show { id, config } => {
            let registry = credless_gateway::open_registry(&config.load()?).await?;
            match registry.tenant(&id).await.map_err(registry_failure)? {
                Some(tenant) => print_json(&tenant),
                None => Err(Failure::Other(anyhow::anyhow!("no tenant with id `{id}`"))),
            }
        }
        TenantCommand::Remove { id, config } => {
            let registry = credless_gateway::open_registry(&config.load()?).await?;
            registry
                .delete_tenant(&id)
                .await
                .map_err(registry_failure)?;
            eprintln!("credless: tenant `{id}` removed");
            Ok(())
        }
    }
}

/// Builds the tenant from `--file` or from the flags.
fn tenant_from(add: &TenantAdd) -> Result<Tenant, Failure> {
    if let Some(path) = &add.file {
        let mut text = String::new();
        if path.as_os_str() == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
        } else {
            text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
        return serde_json::from_str(&text)
            .map_err(|error| Failure::Usage(format!("{}: {error}", path.display())));
    }
    let required = |value: &Option<String>, flag: &str| {
        value
            .clone()
            .ok_or_else(|| Failure::Usage(format!("--{flag} is required")))
    };
    Ok(Tenant {
        id: required(&add.id, "id")?,
        admin_email: required(&add.admin_email, "admin-email")?,
        hostnames: add.hostnames.clone(),
        proxy_url: required(&add.proxy_url, "proxy-url")?,
        cookie_name: add
            .cookie_name
            .clone()
            .unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_owned()),
        oidc: Oidc {
            issuer: required(&add.issuer, "issuer")?,
            audiences: add.audiences.clone(),
        },
        admin_groups: add.admin_groups.clone(),
    })
}

/// Invalid input is the operator's to fix (exit 64); anything else exits 1.
fn registry_failure(error: RegistryError) -> Failure {
    match error {
        RegistryError::Invalid { .. } => Failure::Usage(error.to_string()),
        other => Failure::Other(anyhow::Error::new(other)),
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the command's output is the JSON document"
)]
fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).context("cannot render JSON")?;
    println!("{text}");
    Ok(())
}
