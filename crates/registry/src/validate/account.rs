//! The rules of each cloud's identifiers, as the clouds document them.

use super::{check_id, check_names};
use crate::error::{RegistryError, Result};
use crate::model::{Account, AwsAccount, AzureAccount, GcpAccount};

impl Account {
    /// Checks every field against its cloud's rules.
    ///
    /// Fails with [`RegistryError::Invalid`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<()> {
        check_id(self.id()).map_err(|reason| RegistryError::invalid("id", reason))?;
        if let Some(name) = self.display_name() {
            let len = name.chars().count();
            if name.trim().is_empty() || len > 128 || name.chars().any(char::is_control) {
                let reason = "must have 1 to 128 characters and no control characters";
                return Err(RegistryError::invalid("display_name", reason));
            }
        }
        check_names("allowed_groups", self.allowed_groups())?;
        rule("region", check_region(self.region()))?;
        match self {
            Self::Aws(aws) => check_aws(aws),
            Self::Azure(azure) => check_azure(azure),
            Self::Gcp(gcp) => check_gcp(gcp),
        }
    }
}

fn rule(field: &str, outcome: Result<(), &'static str>) -> Result<()> {
    outcome.map_err(|reason| RegistryError::invalid(field, reason))
}

fn check_aws(aws: &AwsAccount) -> Result<()> {
    rule("role_arn", check_role_arn(&aws.role_arn))
}

fn check_azure(azure: &AzureAccount) -> Result<()> {
    rule("tenant_id", check_guid(&azure.tenant_id))?;
    rule("client_id", check_guid(&azure.client_id))?;
    rule("subscription_id", check_guid(&azure.subscription_id))?;
    rule(
        "resource_group",
        check_resource_group(&azure.resource_group),
    )
}

fn check_gcp(gcp: &GcpAccount) -> Result<()> {
    rule("project_id", check_project_id(&gcp.project_id))?;
    rule("project_number", check_project_number(&gcp.project_number))?;
    rule("pool_id", check_pool_or_provider_id(&gcp.pool_id))?;
    rule("provider_id", check_pool_or_provider_id(&gcp.provider_id))?;
    rule(
        "service_account",
        check_service_account(&gcp.service_account),
    )
}

fn check_region(region: &str) -> Result<(), &'static str> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if !(2..=32).contains(&region.len()) || !region.bytes().all(allowed) {
        return Err("must be 2 to 32 lowercase letters, digits or `-`, such as `us-east-1`");
    }
    Ok(())
}

/// `arn:<partition>:iam::<12 digits>:role/<optional path/><name>`.
fn check_role_arn(arn: &str) -> Result<(), &'static str> {
    const SHAPE: &str = "must look like `arn:aws:iam::123456789012:role/name`";
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(SHAPE);
    };
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Err("must be in the `aws`, `aws-cn` or `aws-us-gov` partition");
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must name a 12-digit AWS account");
    }
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Err(SHAPE);
    };
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_+=,.@/-".contains(&b);
    if path_and_name.len() > 512 || !path_and_name.bytes().all(allowed) {
        return Err("the role path and name may contain only letters, digits and `_+=,.@/-`");
    }
    if path_and_name.split('/').any(str::is_empty) {
        return Err("the role path must not have empty segments");
    }
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    if name.len() > 64 {
        return Err("the role name must have 1 to 64 characters");
    }
    Ok(())
}

/// A GUID in its 8-4-4-4-12 hexadecimal form, either case.
fn check_guid(guid: &str) -> Result<(), &'static str> {
    let groups: Vec<&str> = guid.split('-').collect();
    let lengths_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
    if !lengths_ok
        || !groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err("must be a GUID such as `00000000-0000-0000-0000-000000000000`");
    }
    Ok(())
}

/// Azure resource group names. Azure also allows some non-ASCII letters; we keep to ASCII.
fn check_resource_group(name: &str) -> Result<(), &'static str> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-.()".contains(&b);
    if !(1..=90).contains(&name.len()) || !name.bytes().all(allowed) || name.ends_with('.') {
        return Err("must be 1 to 90 letters, digits or `_-.()`, not ending with `.`");
    }
    Ok(())
}

fn check_project_id(id: &str) -> Result<(), &'static str> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    let starts_with_letter = id.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if !(6..=30).contains(&id.len())
        || !starts_with_letter
        || !id.bytes().all(allowed)
        || id.ends_with('-')
    {
        return Err(
            "must be 6 to 30 lowercase letters, digits or `-`, start with a letter and \
                    not end with `-`",
        );
    }
    Ok(())
}

fn check_project_number(number: &str) -> Result<(), &'static str> {
    if !(1..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be the project number: 1 to 20 digits");
    }
    Ok(())
}

/// Workload identity pool and provider ids: 4-32 of `[a-z0-9-]`, starting with a letter;
/// Google reserves the `gcp-` prefix.
fn check_pool_or_provider_id(id: &str) -> Result<(), &'static str> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    let starts_with_letter = id.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if !(4..=32).contains(&id.len()) || !starts_with_letter || !id.bytes().all(allowed) {
        return Err("must be 4 to 32 lowercase letters, digits or `-`, starting with a letter");
    }
    if id.starts_with("gcp-") {
        return Err("must not start with `gcp-`, which Google reserves");
    }
    Ok(())
}

fn check_service_account(email: &str) -> Result<(), &'static str> {
    const SHAPE: &str = "must be a service account email such as \
                         `name@project.iam.gserviceaccount.com`";
    let Some((local, domain)) = email.split_once('@') else {
        return Err(SHAPE);
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let domain_ok = match domain.strip_suffix(".iam.gserviceaccount.com") {
        Some(project) => super::check_dns_name(project).is_ok(),
        None => matches!(
            domain,
            "developer.gserviceaccount.com" | "appspot.gserviceaccount.com"
        ),
    };
    if !local_ok || !domain_ok {
        return Err(SHAPE);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

    use super::*;

    #[track_caller]
    fn table(check: fn(&str) -> Result<(), &'static str>, good: &[&str], bad: &[&str]) {
        for value in good {
            assert_eq!(check(value), Ok(()), "{value:?} should pass");
        }
        for value in bad {
            assert!(check(value).is_err(), "{value:?} should fail");
        }
    }

    #[test]
    fn role_arns() {
        let good = [
            "arn:aws:iam::123456789012:role/credless",
            "arn:aws-cn:iam::123456789012:role/team/ops/credless",
            "arn:aws-us-gov:iam::123456789012:role/a+b=c,d.e@f_g-h",
            &format!("arn:aws:iam::123456789012:role/{}", "r".repeat(64)),
        ];
        let bad = [
            "",
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::12345678901:role/short-account",
            "arn:aws:iam::1234567890123:role/long-account",
            "arn:aws:iam::12345678901x:role/letters",
            "arn:aws:sts::123456789012:role/credless",
            "arn:azure:iam::123456789012:role/credless",
            "arn:aws:iam:us-east-1:123456789012:role/credless",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a//b",
            "arn:aws:iam::123456789012:role/space here",
            "arn:aws:iam::123456789012:role/colon:no",
            &format!("arn:aws:iam::123456789012:role/{}", "r".repeat(65)),
            "ARN:aws:iam::123456789012:role/credless",
        ];
        table(check_role_arn, &good, &bad);
    }

    #[test]
    fn regions() {
        table(
            check_region,
            &["us-east-1", "westeurope", "europe-west1", "eu"],
            &[
                "",
                "x",
                "US-EAST-1",
                "us_east_1",
                "us east",
                &"a".repeat(33),
            ],
        );
    }

    #[test]
    fn guids() {
        table(
            check_guid,
            &[
                "00000000-0000-0000-0000-000000000000",
                "72F988BF-86f1-41af-91ab-2d7cd011db47",
            ],
            &[
                "",
                "72f988bf86f141af91ab2d7cd011db47",
                "72f988bf-86f1-41af-91ab-2d7cd011db4",
                "{72f988bf-86f1-41af-91ab-2d7cd011db47}",
                "72f988bg-86f1-41af-91ab-2d7cd011db47",
                "72f988bf-86f1-41af-91ab-2d7cd011db47-0000",
            ],
        );
    }

    #[test]
    fn resource_groups() {
        table(
            check_resource_group,
            &["dev", "rg_prod-1.(eu)", &"a".repeat(90)],
            &[
                "",
                "ends.",
                "has space",
                "slash/no",
                "ünicode",
                &"a".repeat(91),
            ],
        );
    }

    #[test]
    fn project_ids_and_numbers() {
        table(
            check_project_id,
            &["acme-data", "abcdef", &format!("a{}", "b".repeat(29))],
            &[
                "",
                "short",
                "1starts-digit",
                "ends-dash-",
                "Upper-case",
                "under_score",
                &"a".repeat(31),
            ],
        );
        table(
            check_project_number,
            &["1", "123456789", &"9".repeat(20)],
            &["", "12a", "-1", " 1", &"9".repeat(21)],
        );
    }

    #[test]
    fn pool_and_provider_ids() {
        table(
            check_pool_or_provider_id,
            &["credless", "acme-idp", "a123", &"a".repeat(32)],
            &[
                "",
                "abc",
                "1abc",
                "Acme",
                "acme_idp",
                "gcp-pool",
                &"a".repeat(33),
            ],
        );
    }

    #[test]
    fn service_accounts() {
        table(
            check_service_account,
            &[
                "credless@acme-data.iam.gserviceaccount.com",
                "123456789-compute@developer.gserviceaccount.com",
                "acme-data@appspot.gserviceaccount.com",
            ],
            &[
                "",
                "credless@acme-data.iam.gserviceaccount.com.evil.net",
                "credless@gmail.com",
                "@acme-data.iam.gserviceaccount.com",
                "credless@.iam.gserviceaccount.com",
                "Cred Less@acme-data.iam.gserviceaccount.com",
                "a@b@acme-data.iam.gserviceaccount.com",
            ],
        );
    }

    fn account(json: serde_json::Value) -> Account {
        serde_json::from_value(json).unwrap()
    }

    fn aws() -> serde_json::Value {
        serde_json::json!({"id": "prod-aws", "provider": "aws", "region": "us-east-1",
            "role_arn": "arn:aws:iam::123456789012:role/credless"})
    }

    #[test]
    fn every_account_error_names_its_field() {
        assert_eq!(account(aws()).validate().ok(), Some(()));
        let cases = [
            ("id", serde_json::json!("Prod")),
            ("id", serde_json::json!("")),
            ("region", serde_json::json!("US")),
            ("role_arn", serde_json::json!("arn:aws:iam::1:role/x")),
            ("display_name", serde_json::json!(" ")),
            ("allowed_groups", serde_json::json!(["ok", ""])),
        ];
        for (field, value) in cases {
            let mut json = aws();
            json[field] = value;
            let expected = if field == "allowed_groups" {
                "allowed_groups[1]"
            } else {
                field
            };
            match account(json).validate() {
                Err(RegistryError::Invalid { field, .. }) => assert_eq!(field, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn azure_and_gcp_accounts_check_their_own_fields() {
        let guid = "00000000-0000-0000-0000-000000000001";
        let azure = serde_json::json!({"id": "dev", "provider": "azure", "tenant_id": guid,
            "client_id": guid, "subscription_id": "nope", "resource_group": "dev",
            "region": "westeurope"});
        let err = account(azure).validate().unwrap_err();
        assert!(
            matches!(err, RegistryError::Invalid { ref field, .. } if field == "subscription_id")
        );

        let gcp = serde_json::json!({"id": "data", "provider": "gcp", "project_id": "acme-data",
            "project_number": "123", "pool_id": "credless", "provider_id": "gcp-idp",
            "service_account": "sa@acme-data.iam.gserviceaccount.com", "region": "europe-west1"});
        let err = account(gcp).validate().unwrap_err();
        assert!(matches!(err, RegistryError::Invalid { ref field, .. } if field == "provider_id"));
    }
}
