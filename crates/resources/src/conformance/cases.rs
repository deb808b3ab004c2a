//! The conformance cases, one public function each; every cloud passes all of them.
//!
//! Each case starts from a fresh harness (the fakes empty) and acts as
//! [`Harness::account`] with [`Harness::credentials`].

use super::support::{Caller, assert_is, assert_valid_path, failed, read_until, read_until_gone};
use super::{Fault, Harness, Operation};
use crate::{Kind, ResourceError, ResourceId, ResourceRequest, State};

/// A VM is created, listed, runs, stops, starts and is deleted, moving only along the one
/// state machine and settling within [`Harness::max_reads`] reads after each change.
pub async fn vm_lifecycle<H: Harness + ?Sized>(harness: &H) {
    lifecycle(harness, Kind::Vm).await;
}

/// A database goes through the same lifecycle as a VM, without Credless handling a password.
pub async fn database_lifecycle<H: Harness + ?Sized>(harness: &H) {
    lifecycle(harness, Kind::Database).await;
}

fn request_for<H: Harness + ?Sized>(harness: &H, kind: Kind, name: &str) -> ResourceRequest {
    let request = match kind {
        Kind::Vm => harness.vm_request(name),
        Kind::Database => harness.database_request(name),
    };
    assert_eq!(request.kind, kind, "the harness's request: {request:?}");
    request
}

async fn lifecycle<H: Harness + ?Sized>(harness: &H, kind: Kind) {
    let provider = harness.provider();
    let provider = provider.as_ref();
    let caller = Caller::of(harness);
    let cx = caller.cx();
    let max = harness.max_reads();
    let name = format!("conformance-{kind:?}").to_ascii_lowercase();
    let request = request_for(harness, kind, &name);
    assert_eq!(provider.kind(), caller.account.provider());

    let created = match provider.create(cx, &request).await {
        Ok(created) => created,
        Err(error) => panic!("creating {request:?}: {error:?}"),
    };
    assert!(
        created.one_time_secret.is_none(),
        "every supported cloud creates it without a password"
    );
    let resource = created.resource;
    assert_is(&resource, &caller, kind, &name);
    let mut seen = vec![resource.state];
    let id = match ResourceId::decode(&resource.id) {
        Ok(id) => id,
        Err(error) => panic!("{error:?}"),
    };

    for managed_only in [true, false] {
        let listed = match provider.list(cx, kind, managed_only).await {
            Ok(listed) => listed,
            Err(error) => panic!("listing (managed only: {managed_only}): {error:?}"),
        };
        assert!(
            listed.iter().any(|listed| listed.id == resource.id),
            "{} not listed (managed only: {managed_only}): {listed:?}",
            resource.id
        );
    }

    let running = read_until(provider, cx, &id, State::Running, max, &mut seen).await;
    assert_is(&running, &caller, kind, &name);
    assert_eq!(
        running.tags.get("managed-by").map(String::as_str),
        Some("credless"),
        "{running:?}"
    );
    for (key, value) in &request.tags {
        assert_eq!(running.tags.get(key), Some(value), "tag {key}: {running:?}");
    }

    let stopping = change(provider.stop(cx, &id).await, "stop", &seen);
    assert!(
        matches!(stopping.state, State::Stopping | State::Stopped),
        "stop answered {stopping:?}"
    );
    seen.push(stopping.state);
    read_until(provider, cx, &id, State::Stopped, max, &mut seen).await;

    let starting = change(provider.start(cx, &id).await, "start", &seen);
    assert!(
        matches!(starting.state, State::Pending | State::Running),
        "start answered {starting:?}"
    );
    seen.push(starting.state);
    read_until(provider, cx, &id, State::Running, max, &mut seen).await;

    let deleting = change(provider.delete(cx, &id).await, "delete", &seen);
    assert!(
        matches!(deleting.state, State::Deleting | State::Deleted),
        "delete answered {deleting:?}"
    );
    seen.push(deleting.state);
    read_until_gone(provider, cx, &id, max, &mut seen).await;

    assert_valid_path(kind, &seen);
}

fn change(
    result: Result<crate::Resource, ResourceError>,
    what: &str,
    seen: &[State],
) -> crate::Resource {
    match result {
        Ok(resource) => resource,
        Err(error) => panic!("{what} after {seen:?}: {error:?}"),
    }
}

/// Runs `operation` on the provider [`Harness::faulty`] gives for `fault`.
async fn refused<H: Harness + ?Sized>(
    harness: &H,
    fault: Fault,
    operation: Operation,
) -> ResourceError {
    let provider = harness.faulty(fault, operation).await;
    let caller = Caller::of(harness);
    let cx = caller.cx();
    let what = format!("{operation:?} under {fault:?}");
    let error = match operation {
        Operation::Create(kind) => {
            let request = request_for(harness, kind, "conformance-refused");
            failed(
                provider.create(cx, &request).await.map(|c| c.resource),
                &what,
            )
        }
        Operation::List(kind) => failed(provider.list(cx, kind, true).await, &what),
        Operation::Get(kind) => failed(provider.get(cx, &harness.missing(kind)).await, &what),
    };
    caller.assert_no_secret(&error);
    let code = error.cloud_code().unwrap_or_default();
    assert!(
        !code.is_empty(),
        "{what}: the cloud's code was lost: {error:?}"
    );
    error
}

/// A missing permission is [`ResourceError::Denied`] with the cloud's code, for a change and
/// for a read.
pub async fn denied<H: Harness + ?Sized>(harness: &H) {
    for operation in [Operation::Create(Kind::Vm), Operation::List(Kind::Database)] {
        let error = refused(harness, Fault::Denied, operation).await;
        assert!(
            matches!(error, ResourceError::Denied { .. }),
            "{operation:?}: {error:?}"
        );
    }
}

/// An exceeded quota is [`ResourceError::Quota`] with the cloud's code, for VMs and databases.
pub async fn quota<H: Harness + ?Sized>(harness: &H) {
    for operation in [
        Operation::Create(Kind::Vm),
        Operation::Create(Kind::Database),
    ] {
        let error = refused(harness, Fault::Quota, operation).await;
        assert!(
            matches!(error, ResourceError::Quota { .. }),
            "{operation:?}: {error:?}"
        );
    }
}

/// Throttling is [`ResourceError::Throttled`] with the cloud's code, whatever the call.
pub async fn throttled<H: Harness + ?Sized>(harness: &H) {
    for operation in [Operation::List(Kind::Vm), Operation::Get(Kind::Database)] {
        let error = refused(harness, Fault::Throttled, operation).await;
        assert!(
            matches!(error, ResourceError::Throttled { .. }),
            "{operation:?}: {error:?}"
        );
    }
}

/// A well-formed id of a resource that does not exist is [`ResourceError::NotFound`], read or
/// stopped, VM or database.
pub async fn not_found<H: Harness + ?Sized>(harness: &H) {
    let provider = harness.provider();
    let caller = Caller::of(harness);
    let cx = caller.cx();
    for kind in [Kind::Vm, Kind::Database] {
        let id = harness.missing(kind);
        assert_eq!(
            (id.account.as_str(), id.kind),
            (caller.account.id(), kind),
            "the harness's missing id: {id:?}"
        );
        let read = failed(provider.get(cx, &id).await, "get of a missing resource");
        assert!(
            matches!(read, ResourceError::NotFound { .. }),
            "{kind:?} get: {read:?}"
        );
        let stop = failed(provider.stop(cx, &id).await, "stop of a missing resource");
        assert!(
            matches!(stop, ResourceError::NotFound { .. }),
            "{kind:?} stop: {stop:?}"
        );
    }
}

/// An id naming another account is not found, even when the resource it points at exists,
/// and is refused before any cloud call: it neither reads nor changes the resource, and a
/// cloud that would refuse every read is never asked.
pub async fn foreign_id<H: Harness + ?Sized>(harness: &H) {
    let provider = harness.provider();
    let caller = Caller::of(harness);
    let cx = caller.cx();
    let request = request_for(harness, Kind::Vm, "conformance-foreign");
    let resource = match provider.create(cx, &request).await {
        Ok(created) => created.resource,
        Err(error) => panic!("creating {request:?}: {error:?}"),
    };
    let id = match ResourceId::decode(&resource.id) {
        Ok(id) => id,
        Err(error) => panic!("{error:?}"),
    };
    let foreign = ResourceId {
        account: format!("{}-elsewhere", id.account),
        ..id.clone()
    };

    let read = failed(provider.get(cx, &foreign).await, "get of a foreign id");
    let stop = failed(provider.stop(cx, &foreign).await, "stop of a foreign id");
    let delete = failed(
        provider.delete(cx, &foreign).await,
        "delete of a foreign id",
    );
    for (what, error) in [("get", read), ("stop", stop), ("delete", delete)] {
        assert!(
            matches!(error, ResourceError::NotFound { .. }),
            "{what} of a foreign id: {error:?}"
        );
    }
    let untouched = match provider.get(cx, &id).await {
        Ok(resource) => resource,
        Err(error) => panic!("the VM itself: {error:?}"),
    };
    assert!(
        matches!(untouched.state, State::Pending | State::Running),
        "a foreign id changed the VM: {untouched:?}"
    );

    for kind in [Kind::Vm, Kind::Database] {
        let denying = harness.faulty(Fault::Denied, Operation::Get(kind)).await;
        let missing = harness.missing(kind);
        let foreign = ResourceId {
            account: format!("{}-elsewhere", missing.account),
            ..missing
        };
        let error = failed(denying.get(cx, &foreign).await, "get of a foreign id");
        assert!(
            matches!(error, ResourceError::NotFound { .. }),
            "{kind:?}: a foreign id reached the cloud: {error:?}"
        );
    }
}
