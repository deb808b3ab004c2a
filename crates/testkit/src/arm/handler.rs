//! Routing, ARM's checks common to every call, and the answers.

use std::sync::Arc;

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::kinds::{self, Kind, Refusal};
use super::routes::{Route, route};
use super::{ArmOp, ArmRequest, ArmState, FakeArmFailure, Operation, Stored, Transition};
use crate::keys::random_bytes;
use crate::recording::{RecordedRequest, lock, query_param};

const JSON: &str = "application/json; charset=utf-8";

/// Answers every request to the fake's server.
pub(super) struct Handler {
    pub(super) state: Arc<ArmState>,
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let route = route(request.method.as_str(), request.url.path());
        lock(&self.state.requests).push(ArmRequest {
            op: route.as_ref().map(|r| r.op),
            request: RecordedRequest::from_request(request),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        });
        let Some(route) = route else {
            let message = format!("No route for '{} {}'.", request.method, request.url.path());
            return error(404, "InvalidResourceType", &message);
        };
        *lock(&self.state.calls).entry(route.op).or_default() += 1;

        if let Err((status, code, message)) = self.check(request, &route) {
            return error(status, code, &message);
        }
        let injected = lock(&self.state.failures)
            .get_mut(&route.op)
            .and_then(|queue| queue.pop_front());
        if let Some(failure) = injected {
            return failed(failure, &route.id);
        }
        let body: Value = if request.body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&request.body) {
                Ok(body) => body,
                Err(_) => return error(400, "InvalidRequestContent", "The request is not JSON."),
            }
        };
        let expand = query_param(request, "$expand").is_some_and(|e| e == "instanceView");
        self.dispatch(&route, body, expand)
    }
}

impl Handler {
    /// The bearer token and the api-version, as ARM checks them before anything else.
    fn check(&self, request: &Request, route: &Route) -> Result<(), Refusal> {
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        let Some(authorization) = authorization else {
            let message = "Authentication failed. The 'Authorization' header is missing.";
            return Err((401, "AuthenticationFailed", message.to_owned()));
        };
        let token = authorization
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|token| !token.is_empty());
        let required = lock(&self.state.token).clone();
        let accepted = match (token, required) {
            (None, _) => false,
            (Some(token), Some(required)) => token == required,
            (Some(_), None) => true,
        };
        if !accepted {
            let message = "The access token is invalid.";
            return Err((401, "InvalidAuthenticationToken", message.to_owned()));
        }
        match query_param(request, "api-version") {
            None => {
                let message = "The api-version query parameter (?api-version=) is required for \
                               all requests.";
                Err((400, "MissingApiVersionParameter", message.to_owned()))
            }
            Some(version)
                if route.op != ArmOp::OperationStatus && version != route.kind.api_version() =>
            {
                let message = format!(
                    "No registered resource provider found for location 'global' and API \
                     version '{version}' for type '{}'. The supported api-versions are '{}'.",
                    route.kind.type_name(),
                    route.kind.api_version()
                );
                Err((400, "NoRegisteredProviderFound", message))
            }
            Some(_) => Ok(()),
        }
    }

    fn dispatch(&self, route: &Route, body: Value, expand: bool) -> ResponseTemplate {
        let key = route.id.to_ascii_lowercase();
        let mut resources = lock(&self.state.resources);
        match route.op {
            ArmOp::ListVirtualMachines | ArmOp::ListFlexibleServers => {
                let prefix = format!("{key}/");
                let value: Vec<Value> = resources
                    .iter()
                    .filter(|(k, r)| k.starts_with(&prefix) && r.kind == route.kind)
                    .map(|(_, r)| r.render(expand))
                    .collect();
                json_response(200, &json!({ "value": value }))
            }
            ArmOp::OperationStatus => self.operation(&mut resources, route),
            ArmOp::GetVirtualNetwork
            | ArmOp::GetSubnet
            | ArmOp::GetNetworkInterface
            | ArmOp::GetVirtualMachine
            | ArmOp::GetFlexibleServer => {
                let Some(stored) = resources.get_mut(&key) else {
                    return not_found(route);
                };
                let mut shown = stored.render(expand);
                if stored.observe() {
                    resources.remove(&key);
                    remove_deleted_nics(&mut resources, &shown);
                }
                if route.kind == Kind::VirtualNetwork {
                    let prefix = format!("{key}/subnets/");
                    let subnets: Vec<Value> = resources
                        .iter()
                        .filter(|(k, _)| k.starts_with(&prefix))
                        .map(|(_, r)| r.render(false))
                        .collect();
                    shown["properties"]["subnets"] = json!(subnets);
                }
                json_response(200, &shown)
            }
            ArmOp::PutVirtualNetwork
            | ArmOp::PutSubnet
            | ArmOp::PutNetworkInterface
            | ArmOp::PutVirtualMachine
            | ArmOp::PutFlexibleServer => self.put(&mut resources, route, body),
            ArmOp::DeleteVirtualMachine | ArmOp::DeleteFlexibleServer => {
                let Some(stored) = resources.get_mut(&key) else {
                    return ResponseTemplate::new(204);
                };
                let steps = *lock(&self.state.steps);
                let shown = stored.render(false);
                if stored.begin(Transition::Delete, steps) {
                    resources.remove(&key);
                    remove_deleted_nics(&mut resources, &shown);
                }
                self.accepted(route, Transition::Delete, 202, None)
            }
            ArmOp::StartVirtualMachine
            | ArmOp::DeallocateVirtualMachine
            | ArmOp::StartFlexibleServer
            | ArmOp::StopFlexibleServer => {
                let Some(stored) = resources.get_mut(&key) else {
                    return not_found(route);
                };
                if let Some((transition, _)) = stored.transition {
                    return busy(route, transition);
                }
                let transition = match route.op {
                    ArmOp::StartVirtualMachine | ArmOp::StartFlexibleServer => Transition::Start,
                    _ => Transition::Stop,
                };
                stored.begin(transition, *lock(&self.state.steps));
                self.accepted(route, transition, 202, None)
            }
        }
    }

    fn put(
        &self,
        resources: &mut std::collections::BTreeMap<String, Stored>,
        route: &Route,
        mut body: Value,
    ) -> ResponseTemplate {
        let key = route.id.to_ascii_lowercase();
        if !body.is_object() {
            return error(
                400,
                "InvalidRequestContent",
                "The request content is not valid.",
            );
        }
        if route.kind != Kind::Subnet && body["location"].as_str().is_none() {
            let message = "The location property is required for this definition.";
            return error(400, "LocationRequired", message);
        }
        let name = route.id.rsplit('/').next().unwrap_or_default().to_owned();
        body["id"] = json!(route.id);
        body["name"] = json!(name);
        body["type"] = json!(route.kind.type_name());

        if let Some(existing) = resources.get_mut(&key) {
            // An update: the fake keeps tags and settles nothing else.
            if let Some((transition, _)) = existing.transition {
                return busy(route, transition);
            }
            existing.body["tags"] = body["tags"].clone();
            return json_response(200, &existing.render(false));
        }

        let checked = match route.kind {
            Kind::VirtualMachine => kinds::check_vm(&body, resources),
            Kind::NetworkInterface => kinds::check_nic(&body, resources),
            Kind::FlexibleServer => kinds::check_server(&body),
            Kind::Subnet => {
                let parent = key
                    .rsplit_once("/subnets/")
                    .map_or("", |(parent, _)| parent);
                if !resources.contains_key(parent) {
                    let message = format!("Parent resource of '{}' was not found.", route.id);
                    return error(404, "ParentResourceNotFound", &message);
                }
                Ok(())
            }
            Kind::VirtualNetwork => Ok(()),
        };
        if let Err((status, code, message)) = checked {
            return error(status, code, &message);
        }

        // Subnets given inline with a new VNet become subnets of their own.
        let inline_subnets = match route.kind {
            Kind::VirtualNetwork => body["properties"]["subnets"].take(),
            _ => Value::Null,
        };
        if route.kind == Kind::VirtualMachine {
            body["properties"]["vmId"] = json!(guid());
            body["properties"]["timeCreated"] = json!("2026-01-01T00:00:00+00:00");
        }
        let mut stored = Stored {
            kind: route.kind,
            body,
            power: None,
            transition: None,
        };
        let steps = *lock(&self.state.steps);
        stored.begin(Transition::Create, steps);
        let shown = stored.render(false);
        resources.insert(key, stored);
        for subnet in inline_subnets.as_array().into_iter().flatten() {
            let name = subnet["name"].as_str().unwrap_or("default");
            let id = format!("{}/subnets/{name}", route.id);
            let mut body = subnet.clone();
            body["id"] = json!(id);
            body["type"] = json!(Kind::Subnet.type_name());
            body["properties"]["provisioningState"] = json!("Succeeded");
            let stored = Stored::settled(Kind::Subnet, body, None);
            resources.insert(stored.key(), stored);
        }

        let status = if route.kind == Kind::FlexibleServer {
            202
        } else {
            201
        };
        let body = (status == 201).then_some(shown);
        self.accepted(route, Transition::Create, status, body)
    }

    /// `201`/`202` with the operation's URLs: `Azure-AsyncOperation` always, `Location` for
    /// actions, deletes and accepted creates.
    fn accepted(
        &self,
        route: &Route,
        transition: Transition,
        status: u16,
        body: Option<Value>,
    ) -> ResponseTemplate {
        let id = guid();
        lock(&self.state.operations).insert(
            id.clone(),
            Operation {
                resource: route.id.to_ascii_lowercase(),
                transition,
            },
        );
        let subscription = route.id.split('/').nth(2).unwrap_or_default();
        let location = "westeurope";
        let base = format!(
            "{}/subscriptions/{subscription}/providers/{}/locations/{location}",
            self.state.endpoint,
            route.kind.namespace()
        );
        let version = route.kind.api_version();
        let mut response = ResponseTemplate::new(status)
            .insert_header("x-ms-request-id", guid().as_str())
            .insert_header(
                "azure-asyncoperation",
                format!("{base}/operations/{id}?api-version={version}").as_str(),
            );
        if status == 202 {
            response = response
                .insert_header(
                    "location",
                    format!("{base}/operationResults/{id}?api-version={version}").as_str(),
                )
                .insert_header("retry-after", "1");
        }
        match body {
            Some(body) => response.set_body_raw(body.to_string(), JSON),
            None => response,
        }
    }

    /// An operation's status (`Azure-AsyncOperation`) or result (`Location`) URL.
    fn operation(
        &self,
        resources: &mut std::collections::BTreeMap<String, Stored>,
        route: &Route,
    ) -> ResponseTemplate {
        let id = route.id.rsplit('/').next().unwrap_or_default();
        let Some(operation) = lock(&self.state.operations).get(id).cloned() else {
            return error(404, "OperationNotFound", "The operation was not found.");
        };
        let in_progress = match resources.get_mut(&operation.resource) {
            Some(stored) if stored.transition.map(|(t, _)| t) == Some(operation.transition) => {
                if stored.observe() {
                    let shown = stored.render(false);
                    resources.remove(&operation.resource);
                    remove_deleted_nics(resources, &shown);
                }
                true
            }
            _ => false,
        };
        if route.location_url {
            return if in_progress {
                ResponseTemplate::new(202).insert_header("retry-after", "1")
            } else {
                ResponseTemplate::new(200)
            };
        }
        let status = if in_progress {
            "InProgress"
        } else {
            "Succeeded"
        };
        json_response(200, &json!({ "name": id, "status": status }))
    }
}

/// Network interfaces a deleted VM asked to delete with it (`deleteOption: Delete`).
fn remove_deleted_nics(resources: &mut std::collections::BTreeMap<String, Stored>, vm: &Value) {
    let nics = vm["properties"]["networkProfile"]["networkInterfaces"].as_array();
    for nic in nics.into_iter().flatten() {
        if nic["properties"]["deleteOption"] == "Delete" {
            let id = nic["id"].as_str().unwrap_or_default().to_ascii_lowercase();
            resources.remove(&id);
        }
    }
}

fn not_found(route: &Route) -> ResponseTemplate {
    let mut parts = route.id.rsplit('/');
    let name = parts.next().unwrap_or_default();
    let group = route.id.split('/').nth(4).unwrap_or_default();
    let message = format!(
        "The Resource '{}/{name}' under resource group '{group}' was not found. For more \
         details please go to https://aka.ms/ARMResourceNotFoundFix",
        route.kind.type_name()
    );
    error(404, "ResourceNotFound", &message)
}

fn busy(route: &Route, transition: Transition) -> ResponseTemplate {
    let name = route.id.rsplit('/').next().unwrap_or_default();
    let message = format!(
        "Operation is not allowed on '{name}' while an operation ({transition:?}) is in \
         progress. Retry after it completes."
    );
    error(409, "OperationNotAllowed", &message)
}

fn failed(failure: FakeArmFailure, scope: &str) -> ResponseTemplate {
    match failure {
        FakeArmFailure::Throttle { retry_after } => {
            let message = "The request is being throttled as the limit has been reached for \
                           operation type - Read_ObservationWindow_00:05:00.";
            error(429, "TooManyRequests", message)
                .insert_header("retry-after", retry_after.as_secs().to_string().as_str())
        }
        FakeArmFailure::Quota => {
            let message = "Operation could not be completed as it results in exceeding approved \
                           standardDSv5Family Cores quota. Location: westeurope, Current Limit: \
                           10, Current Usage: 10, Additional Required: 2, (Minimum) New Limit \
                           Required: 12.";
            error(409, "OperationNotAllowed", message)
        }
        FakeArmFailure::Denied => {
            let message = format!(
                "The client 'credless' with object id '{0}' does not have authorization to \
                 perform action 'Microsoft.Compute/virtualMachines/write' over scope '{scope}' \
                 or the scope is invalid. If access was recently granted, please refresh your \
                 credentials.",
                "00000000-0000-0000-0000-000000000000"
            );
            error(403, "AuthorizationFailed", &message)
        }
        FakeArmFailure::ServerError => error(
            500,
            "InternalServerError",
            "Encountered internal server error. Diagnostic information: timestamp '2026'.",
        ),
    }
}

fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    json_response(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
    .insert_header("x-ms-failure-cause", "service")
}

fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-ms-request-id", guid().as_str())
        .set_body_raw(body.to_string(), JSON)
}

/// A random GUID in its 8-4-4-4-12 form.
pub(super) fn guid() -> String {
    let hex: String = random_bytes(16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
