//! What the cases share: the caller's context, reading until a state, the state machine.

use credless_exchange::Credentials;
use credless_registry::Account;

use super::Harness;
use crate::{Kind, Resource, ResourceContext, ResourceError, ResourceId, ResourceProvider, State};

/// The account and credentials a case acts with.
pub(super) struct Caller {
    pub(super) account: Account,
    credentials: Credentials,
}

impl Caller {
    pub(super) fn of<H: Harness + ?Sized>(harness: &H) -> Self {
        Self {
            account: harness.account(),
            credentials: harness.credentials(),
        }
    }

    pub(super) fn cx(&self) -> ResourceContext<'_> {
        ResourceContext {
            account: &self.account,
            credentials: &self.credentials,
        }
    }

    /// The secrets of the credentials, which no error may show.
    fn secrets(&self) -> Vec<&str> {
        match &self.credentials {
            Credentials::Aws(aws) => {
                vec![aws.secret_access_key.expose(), aws.session_token.expose()]
            }
            Credentials::Azure(token) | Credentials::Gcp(token) => vec![token.token.expose()],
            _ => Vec::new(),
        }
    }

    /// Checks that `error` shows none of the caller's secrets.
    pub(super) fn assert_no_secret(&self, error: &ResourceError) {
        let shown = format!("{error} {error:?}");
        for secret in self.secrets() {
            assert!(!shown.contains(secret), "a secret in the error: {shown}");
        }
    }
}

/// The error of `result`, which must have failed.
pub(super) fn failed<T: std::fmt::Debug>(
    result: Result<T, ResourceError>,
    what: &str,
) -> ResourceError {
    match result {
        Ok(value) => panic!("{what}: expected a refusal, got {value:?}"),
        Err(error) => error,
    }
}

/// Reads `id` until it is `wanted`, within `max` reads, recording every state seen.
pub(super) async fn read_until(
    provider: &dyn ResourceProvider,
    cx: ResourceContext<'_>,
    id: &ResourceId,
    wanted: State,
    max: usize,
    seen: &mut Vec<State>,
) -> Resource {
    for _ in 0..max {
        let resource = match provider.get(cx, id).await {
            Ok(resource) => resource,
            Err(error) => panic!("reading until {wanted:?} after {seen:?}: {error:?}"),
        };
        seen.push(resource.state);
        if resource.state == wanted {
            return resource;
        }
    }
    panic!("not {wanted:?} within {max} reads: {seen:?}");
}

/// Reads `id` until it is `deleted` or not found, within `max` reads; records not found as
/// `deleted`.
pub(super) async fn read_until_gone(
    provider: &dyn ResourceProvider,
    cx: ResourceContext<'_>,
    id: &ResourceId,
    max: usize,
    seen: &mut Vec<State>,
) {
    for _ in 0..max {
        match provider.get(cx, id).await {
            Ok(resource) => {
                seen.push(resource.state);
                if resource.state == State::Deleted {
                    return;
                }
            }
            Err(ResourceError::NotFound { .. }) => {
                seen.push(State::Deleted);
                return;
            }
            Err(error) => panic!("reading until gone after {seen:?}: {error:?}"),
        }
    }
    panic!("still there after {max} reads: {seen:?}");
}

/// Whether the one state machine allows going from `from` to `to` between two observations.
fn allowed(from: State, to: State) -> bool {
    use State::{Deleted, Deleting, Pending, Running, Stopped, Stopping};
    from == to
        || matches!(
            (from, to),
            (Pending, Running)
                | (Running, Stopping | Stopped | Deleting | Deleted)
                | (Stopping, Stopped)
                | (Stopped, Pending | Running | Deleting | Deleted)
                | (Deleting, Deleted)
        )
}

/// Checks that `seen` is a path of the state machine from creation to deletion.
pub(super) fn assert_valid_path(kind: Kind, seen: &[State]) {
    assert!(
        matches!(seen.first(), Some(State::Pending | State::Running)),
        "{kind:?} did not start pending or running: {seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&State::Deleted),
        "{kind:?} did not end deleted"
    );
    for pair in seen.windows(2) {
        if let [from, to] = pair {
            assert!(
                allowed(*from, *to),
                "{kind:?} went {from:?} -> {to:?}: {seen:?}"
            );
        }
    }
}

/// Checks that `resource` is of the caller's account, as requested, and that its id says so.
pub(super) fn assert_is(resource: &Resource, caller: &Caller, kind: Kind, name: &str) {
    assert_eq!(resource.kind, kind, "{resource:?}");
    assert_eq!(resource.name, name, "{resource:?}");
    assert_eq!(resource.account, caller.account.id(), "{resource:?}");
    assert_eq!(resource.provider, caller.account.provider(), "{resource:?}");
    let id = match ResourceId::decode(&resource.id) {
        Ok(id) => id,
        Err(error) => panic!("an id that does not decode: {}: {error:?}", resource.id),
    };
    // The id's native part may be a shorter form of `native_id` (a name for a self link).
    assert_eq!(
        (id.account.as_str(), id.kind, id.location.as_str()),
        (caller.account.id(), kind, resource.region.as_str()),
        "{resource:?}"
    );
    assert!(!id.native_id.is_empty() && !resource.native_id.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_accepts_whole_lifecycles_and_refuses_shortcuts() {
        use State::{Deleted, Deleting, Pending, Running, Stopped, Stopping};
        assert_valid_path(
            Kind::Vm,
            &[
                Pending, Pending, Running, Stopping, Stopped, Pending, Running, Deleting, Deleted,
            ],
        );
        assert_valid_path(Kind::Database, &[Running, Stopped, Running, Deleted]);
        for bad in [
            vec![Stopped, Running, Deleted],
            vec![Pending, Stopped, Deleted],
            vec![Pending, Running, Deleting, Running, Deleted],
            vec![Pending, Running, State::Error, Deleted],
            vec![Pending, Running],
        ] {
            let path = bad.clone();
            let refused = std::panic::catch_unwind(move || assert_valid_path(Kind::Vm, &path));
            assert!(refused.is_err(), "{bad:?} was accepted");
        }
    }
}
