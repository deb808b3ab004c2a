//! The operations both fake APIs record for their changes, and the two lists that show them:
//! Compute Engine `zoneOperations.list` and Cloud SQL Admin `operations.list`.
//!
//! An operation is pending (`RUNNING` for Compute, `PENDING` for Cloud SQL) while the change
//! it started still moves its instance on reads, and `DONE` once the instance settled, was
//! taken over by a later change, or is gone.

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{GceState, Route, invalid, json_response, key2, key3, now};
use crate::recording::{lock, query_param};

/// One operation a change created.
pub(super) struct Recorded {
    pub(super) sql: bool,
    pub(super) project: String,
    /// The zone, for Compute operations.
    pub(super) zone: String,
    /// The instance name.
    pub(super) target: String,
    /// The Operation as first answered.
    pub(super) body: Value,
    /// When it was first seen done.
    ended: Option<String>,
}

impl Recorded {
    pub(super) fn new(sql: bool, project: &str, zone: &str, target: &str, body: Value) -> Self {
        Self {
            sql,
            project: project.to_owned(),
            zone: zone.to_owned(),
            target: target.to_owned(),
            body,
            ended: None,
        }
    }

    fn name(&self) -> &str {
        self.body["name"].as_str().unwrap_or_default()
    }

    /// The operation as listed now; `driving` is the operation moving its instance, if any.
    fn current(&mut self, driving: Option<&str>) -> Value {
        let mut body = self.body.clone();
        if driving == Some(self.name()) {
            return body;
        }
        let ended = self.ended.get_or_insert_with(now).clone();
        body["status"] = json!("DONE");
        body["endTime"] = json!(ended);
        if !self.sql {
            body["progress"] = json!(100);
        }
        body
    }
}

impl GceState {
    /// `GET /compute/v1/projects/<p>/zones/<z>/operations`, with `filter` on `status` only.
    pub(super) fn compute_operations(&self, route: &Route, request: &Request) -> ResponseTemplate {
        let filter = match query_param(request, "filter") {
            None => None,
            Some(filter) => match status_filter(&filter) {
                Some(parsed) => Some(parsed),
                None => {
                    return invalid(&format!(
                        "Invalid value for field 'filter': '{filter}'. Invalid list filter \
                         expression."
                    ));
                }
            },
        };
        let vms = lock(&self.vms);
        let mut operations = lock(&self.operations);
        let mut items = Vec::new();
        for operation in operations.iter_mut() {
            if operation.sql || operation.project != route.project || operation.zone != route.zone {
                continue;
            }
            let key = key3(&operation.project, &operation.zone, &operation.target);
            let driving = vms.get(&key).and_then(|vm| vm.driving());
            let body = operation.current(driving);
            let keep = filter.as_ref().is_none_or(|(equal, status)| {
                (body["status"].as_str() == Some(status.as_str())) == *equal
            });
            if keep {
                items.push(body);
            }
        }
        let zone_url = format!(
            "{}/compute/v1/projects/{}/zones/{}",
            self.base, route.project, route.zone
        );
        let mut body = json!({
            "kind": "compute#operationList",
            "id": format!("projects/{}/zones/{}/operations", route.project, route.zone),
            "selfLink": format!("{zone_url}/operations"),
        });
        if !items.is_empty() {
            body["items"] = Value::Array(items);
        }
        json_response(200, &body)
    }

    /// `GET /v1/projects/<p>/operations?instance=<name>`, newest first as Cloud SQL lists them.
    pub(super) fn sql_operations(&self, route: &Route, request: &Request) -> ResponseTemplate {
        let instance = query_param(request, "instance");
        let databases = lock(&self.databases);
        let mut operations = lock(&self.operations);
        let mut items = Vec::new();
        for operation in operations.iter_mut().rev() {
            let wanted = instance
                .as_ref()
                .is_none_or(|name| *name == operation.target);
            if !operation.sql || operation.project != route.project || !wanted {
                continue;
            }
            let driving = databases
                .get(&key2(&operation.project, &operation.target))
                .and_then(|database| database.driving());
            items.push(operation.current(driving));
        }
        let mut body = json!({"kind": "sql#operationsList"});
        if !items.is_empty() {
            body["items"] = Value::Array(items);
        }
        json_response(200, &body)
    }
}

/// Reads `status = X` or `status != X`, optionally in parentheses and with `X` quoted: whether
/// it asks for equality, and `X`.
fn status_filter(filter: &str) -> Option<(bool, String)> {
    let inner = filter.trim();
    let inner = inner
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(inner)
        .trim();
    let rest = inner.strip_prefix("status")?.trim_start();
    let (equal, value) = match rest.strip_prefix("!=") {
        Some(value) => (false, value),
        None => (true, rest.strip_prefix('=')?),
    };
    let value = value.trim().trim_matches('"');
    matches!(value, "PENDING" | "RUNNING" | "DONE").then(|| (equal, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_parse_and_others_are_refused() {
        assert_eq!(
            status_filter("status != DONE"),
            Some((false, "DONE".into()))
        );
        assert_eq!(
            status_filter("(status = \"RUNNING\")"),
            Some((true, "RUNNING".into()))
        );
        assert_eq!(status_filter("name = x"), None);
        assert_eq!(status_filter("status != FINISHED"), None);
    }
}
