//! The audit trail of a request: who did what to which account or resource, and how it ended.
//! Every event goes to the store (read back through `GET /api/v1/audit`) and to the log.

use credless_registry::model::Tenant;
use credless_registry::{AuditEvent, Outcome};
use credless_session::Identity;

use crate::app::Shared;
use crate::problem::Problem;

/// Records actions on behalf of one signed-in caller.
pub(crate) struct Audit<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) tenant: &'a Tenant,
    pub(crate) identity: &'a Identity,
    pub(crate) request_id: &'a str,
}

impl Audit<'_> {
    /// Records `action` with its outcome, whether it succeeded or failed. A store failure is
    /// logged at `error`: the action already happened and the log line still records it.
    pub(crate) async fn record<T>(
        &self,
        action: &str,
        account: Option<&str>,
        resource: Option<&str>,
        result: &Result<T, Problem>,
    ) {
        let (outcome, detail) = match result {
            Ok(_) => (Outcome::Success, String::new()),
            Err(problem) => {
                let outcome =
                    if problem.status().as_u16() == 403 || problem.status().as_u16() == 401 {
                        Outcome::Denied
                    } else {
                        Outcome::Failure
                    };
                (outcome, problem.summary())
            }
        };
        let mut event = AuditEvent::new(
            &self.tenant.id,
            self.request_id,
            &self.identity.subject,
            action,
            outcome,
        )
        .with_email(self.identity.email.clone())
        .with_detail(&detail);
        if let Some(account) = account {
            event = event.with_account(account);
        }
        if let Some(resource) = resource {
            event = event.with_resource(resource);
        }
        event.log();
        if let Err(error) = self.shared.registry.record_audit(&event).await {
            tracing::error!(
                error = %crate::problem::DisplayChain(&error),
                action,
                "audit event not stored"
            );
        }
    }
}
