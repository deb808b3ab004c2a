//! A stateful fake of the Amazon EC2 Query API (version `2016-11-15`) for the instance calls a
//! resource provider makes: `RunInstances`, `DescribeInstances`, `StartInstances`,
//! `StopInstances` and `TerminateInstances`.
//!
//! Requests must be `POST /` form bodies signed with SigV4 for the `ec2` service (the shape is
//! checked, not the signature); the credential scope's region is the region acted in. Answers
//! are EC2's XML documents, errors EC2's `<Response><Errors><Error>` with its codes:
//! `InvalidInstanceID.NotFound`, `InvalidInstanceID.Malformed`, `IncorrectInstanceState`,
//! `MissingParameter`, `InvalidParameterValue`, `InvalidAMIID.Malformed`, `InvalidAction`, and
//! through [`FakeEc2::fail_next`] `UnauthorizedOperation`, `InstanceLimitExceeded` and
//! `RequestLimitExceeded`. Instances move `pending` → `running`, `stopping` → `stopped`,
//! `shutting-down` → `terminated`, each step after a read of the instance or two seconds
//! ([`FakeEc2::set_pace`]); terminated instances stay visible, as in EC2.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::{MockServer, ResponseTemplate};

use crate::aws_query::{
    self, Answer, AwsFailure, Controls, QueryApi, QueryRequest, Refusal, Steps, element, escape,
    hex_id, request_id, timestamp, xml,
};
use crate::recording::lock;

/// The account that owns every reservation.
const OWNER_ID: &str = "123456789012";

const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// A fake of EC2 on `127.0.0.1` at a random port. Cloning gives another handle on the same
/// fake; the server stops when the last handle is dropped.
#[derive(Clone)]
pub struct FakeEc2 {
    server: Arc<MockServer>,
    state: Arc<Ec2State>,
}

impl FakeEc2 {
    /// Starts an EC2 with no instances.
    pub async fn start() -> Self {
        let (server, state) = aws_query::start::<Ec2State>().await;
        Self { server, state }
    }

    /// The endpoint URL, such as `http://127.0.0.1:41236`.
    pub fn endpoint(&self) -> String {
        self.server.uri()
    }

    /// A transitional state ends after `reads` reads of the instance or after `time`, whichever
    /// comes first (defaults: one read, two seconds).
    pub fn set_pace(&self, reads: usize, time: Duration) {
        self.state.controls.set_pace(reads, time);
    }

    /// Makes the next call of `action` (such as `RunInstances`) fail as `failure` says.
    pub fn fail_next(&self, action: &str, failure: AwsFailure) {
        self.state.controls.fail_next(action, failure);
    }

    /// The EC2 state name of instance `id` as it was last observed, if it exists.
    pub fn instance_state(&self, id: &str) -> Option<String> {
        let instances = lock(&self.state.instances);
        instances.get(id).map(|instance| instance.state.clone())
    }

    /// How many calls of `action` arrived, refused ones included.
    pub fn calls(&self, action: &str) -> usize {
        self.state.controls.calls(action)
    }
}

impl fmt::Debug for FakeEc2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeEc2")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Ec2State {
    controls: Controls,
    next: AtomicU64,
    instances: Mutex<BTreeMap<String, Instance>>,
}

struct Instance {
    id: String,
    region: String,
    image: String,
    instance_type: String,
    state: String,
    steps: Steps,
    launch_time: String,
    private_ip: String,
    tags: Vec<(String, String)>,
}

/// EC2's numeric code of a state name.
fn state_code(name: &str) -> u16 {
    match name {
        "pending" => 0,
        "running" => 16,
        "shutting-down" => 32,
        "terminated" => 48,
        "stopping" => 64,
        _ => 80,
    }
}

impl QueryApi for Ec2State {
    const SERVICE: &'static str = "ec2";

    fn controls(&self) -> &Controls {
        &self.controls
    }

    fn answer(&self, query: &QueryRequest) -> Answer {
        match query.action.as_str() {
            "RunInstances" => self.run(query),
            "DescribeInstances" => self.describe(query),
            "StartInstances" | "StopInstances" | "TerminateInstances" => self.change(query),
            other => Err(Refusal::new(
                400,
                "InvalidAction",
                &format!("The action {other} is not valid for this web service."),
            )),
        }
    }

    fn failure(failure: AwsFailure, action: &str) -> Refusal {
        match failure {
            AwsFailure::Denied => Refusal::new(
                403,
                "UnauthorizedOperation",
                &format!("You are not authorized to perform this operation. (ec2:{action})"),
            ),
            AwsFailure::Quota => Refusal::new(
                400,
                "InstanceLimitExceeded",
                "You have requested more instances than your current instance limit allows.",
            ),
            AwsFailure::Throttled => {
                Refusal::new(503, "RequestLimitExceeded", "Request limit exceeded.")
            }
            AwsFailure::ServerError => {
                Refusal::new(500, "InternalError", "An internal error has occurred")
            }
        }
    }

    /// EC2's error document.
    fn render(refusal: &Refusal) -> ResponseTemplate {
        let mut body =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>");
        refusal.write_code_and_message(&mut body);
        let _ = write!(
            body,
            "</Error></Errors><RequestID>{}</RequestID></Response>",
            request_id()
        );
        xml(refusal.status, body)
    }
}

impl Ec2State {
    fn run(&self, query: &QueryRequest) -> Answer {
        let image = query.required("ImageId")?;
        for count in ["MinCount", "MaxCount"] {
            if query.required(count)? != "1" {
                return Err(Refusal::invalid(&format!(
                    "The fake launches one instance: {count}=1."
                )));
            }
        }
        if !is_resource_id(image, "ami-") {
            return Err(Refusal::new(
                400,
                "InvalidAMIID.Malformed",
                &format!("Invalid id: \"{image}\" (expecting \"ami-...\")"),
            ));
        }
        let instance_type = query.param("InstanceType").unwrap_or("m1.small");
        if !is_instance_type(instance_type) {
            return Err(Refusal::invalid(&format!(
                "Invalid value '{instance_type}' for InstanceType."
            )));
        }
        let tags = if query.param("TagSpecification.1.ResourceType") == Some("instance") {
            query.tags("TagSpecification.1.Tag")
        } else {
            Vec::new()
        };

        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let instance = Instance {
            id: format!("i-{}", hex_id(17)),
            region: query.region.clone(),
            image: image.to_owned(),
            instance_type: instance_type.to_owned(),
            state: "pending".to_owned(),
            steps: Steps::new(&["running"]),
            launch_time: timestamp(),
            private_ip: format!("172.31.{}.{}", (n / 250) % 250, n % 250 + 4),
            tags,
        };
        let mut body = open("RunInstancesResponse");
        let _ = write!(
            body,
            "<reservationId>r-{}</reservationId><ownerId>{OWNER_ID}</ownerId><groupSet/>\
             <instancesSet>",
            hex_id(17)
        );
        write_instance(&mut body, &instance);
        body.push_str("</instancesSet></RunInstancesResponse>");
        lock(&self.instances).insert(instance.id.clone(), instance);
        Ok(xml(200, body))
    }

    fn describe(&self, query: &QueryRequest) -> Answer {
        let ids = query.list("InstanceId");
        let max_results = query.param("MaxResults");
        if !ids.is_empty() && max_results.is_some() {
            return Err(Refusal::new(
                400,
                "InvalidParameterCombination",
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        let page_size = match max_results.map(str::parse::<usize>) {
            None => usize::MAX,
            Some(Ok(size)) if (5..=1000).contains(&size) => size,
            Some(_) => {
                return Err(Refusal::invalid(
                    "Value for parameter maxResults is invalid. Expecting a value between 5 \
                     and 1000.",
                ));
            }
        };
        let filters = filters(query);
        let pace = self.controls.pace();
        let mut instances = lock(&self.instances);
        for id in &ids {
            check_instance_id(id)?;
            if instances.get(id).is_none_or(|i| i.region != query.region) {
                return Err(not_found(id));
            }
        }

        let after = query.param("NextToken").unwrap_or_default();
        let mut shown = Vec::new();
        let mut next_token = None;
        for instance in instances.values_mut() {
            let wanted = instance.region == query.region
                && (ids.is_empty() || ids.contains(&instance.id))
                && instance.id.as_str() > after
                && filters
                    .iter()
                    .all(|(name, values)| matches(instance, name, values));
            if !wanted {
                continue;
            }
            if shown.len() == page_size {
                next_token = shown.last().cloned();
                break;
            }
            if let Some(next) = instance.steps.observe(pace) {
                instance.state = next;
            }
            shown.push(instance.id.clone());
        }

        let mut body = open("DescribeInstancesResponse");
        body.push_str("<reservationSet>");
        for id in &shown {
            if let Some(instance) = instances.get(id) {
                let _ = write!(
                    body,
                    "<item><reservationId>r-{}</reservationId><ownerId>{OWNER_ID}</ownerId>\
                     <groupSet/><instancesSet>",
                    &instance.id[2..]
                );
                write_instance(&mut body, instance);
                body.push_str("</instancesSet></item>");
            }
        }
        body.push_str("</reservationSet>");
        if let Some(token) = next_token {
            element(&mut body, "nextToken", &token);
        }
        body.push_str("</DescribeInstancesResponse>");
        Ok(xml(200, body))
    }

    fn change(&self, query: &QueryRequest) -> Answer {
        let ids = query.list("InstanceId");
        if ids.is_empty() {
            return Err(Refusal::new(
                400,
                "MissingParameter",
                "The request must contain the parameter InstanceId",
            ));
        }
        let mut instances = lock(&self.instances);
        for id in &ids {
            check_instance_id(id)?;
            let Some(instance) = instances.get(id).filter(|i| i.region == query.region) else {
                return Err(not_found(id));
            };
            refuse_change(&query.action, instance)?;
        }

        let element_name = query.action.replace("Instances", "InstancesResponse");
        let mut body = open(&element_name);
        body.push_str("<instancesSet>");
        for id in &ids {
            let Some(instance) = instances.get_mut(id) else {
                continue;
            };
            let previous = instance.state.clone();
            let (now, then): (&str, &[&str]) = match (query.action.as_str(), previous.as_str()) {
                (_, "terminated") => ("terminated", &[]),
                ("TerminateInstances", _) => ("shutting-down", &["terminated"]),
                ("StartInstances", "stopped") => ("pending", &["running"]),
                ("StopInstances", "running") => ("stopping", &["stopped"]),
                // Starting a running instance or stopping a stopped one changes nothing.
                _ => (previous.as_str(), &[]),
            };
            let now = now.to_owned();
            if now != previous {
                instance.state.clone_from(&now);
                instance.steps = Steps::new(then);
            }
            let _ = write!(
                body,
                "<item><instanceId>{}</instanceId><currentState><code>{}</code><name>{now}</name>\
                 </currentState><previousState><code>{}</code><name>{previous}</name>\
                 </previousState></item>",
                instance.id,
                state_code(&now),
                state_code(&previous)
            );
        }
        body.push_str("</instancesSet>");
        let _ = write!(body, "</{element_name}>");
        Ok(xml(200, body))
    }
}

/// Refuses a start or stop from a state EC2 refuses it in.
fn refuse_change(action: &str, instance: &Instance) -> Result<(), Refusal> {
    let state = instance.state.as_str();
    let refused = match action {
        "StartInstances" => !matches!(state, "stopped" | "running" | "pending"),
        "StopInstances" => !matches!(state, "running" | "stopping" | "stopped"),
        _ => false,
    };
    if !refused {
        return Ok(());
    }
    let verb = if action == "StartInstances" {
        "started"
    } else {
        "stopped"
    };
    Err(Refusal::new(
        400,
        "IncorrectInstanceState",
        &format!(
            "The instance '{}' is not in a state from which it can be {verb}.",
            instance.id
        ),
    ))
}

/// `Filter.N.Name` with its `Filter.N.Value.M` values.
fn filters(query: &QueryRequest) -> Vec<(String, Vec<String>)> {
    (1..)
        .map_while(|n| {
            let name = query.param(&format!("Filter.{n}.Name"))?.to_owned();
            Some((name, query.list(&format!("Filter.{n}.Value"))))
        })
        .collect()
}

/// Whether `instance` passes one filter; unknown filters pass nothing, as EC2 refuses them.
fn matches(instance: &Instance, name: &str, values: &[String]) -> bool {
    let value = if let Some(key) = name.strip_prefix("tag:") {
        instance
            .tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    } else {
        match name {
            "instance-id" => Some(instance.id.as_str()),
            "instance-state-name" => Some(instance.state.as_str()),
            "instance-type" => Some(instance.instance_type.as_str()),
            "image-id" => Some(instance.image.as_str()),
            _ => None,
        }
    };
    value.is_some_and(|value| values.iter().any(|wanted| wanted == value))
}

fn write_instance(out: &mut String, instance: &Instance) {
    let _ = write!(
        out,
        "<item><instanceId>{}</instanceId><imageId>{}</imageId><instanceState><code>{}</code>\
         <name>{}</name></instanceState><privateDnsName>ip-{}.ec2.internal</privateDnsName>\
         <instanceType>{}</instanceType><launchTime>{}</launchTime><placement>\
         <availabilityZone>{}a</availabilityZone><tenancy>default</tenancy></placement>\
         <privateIpAddress>{}</privateIpAddress>",
        instance.id,
        escape(&instance.image),
        state_code(&instance.state),
        instance.state,
        instance.private_ip.replace('.', "-"),
        escape(&instance.instance_type),
        instance.launch_time,
        escape(&instance.region),
        instance.private_ip,
    );
    if !instance.tags.is_empty() {
        out.push_str("<tagSet>");
        for (key, value) in &instance.tags {
            out.push_str("<item>");
            element(out, "key", key);
            element(out, "value", value);
            out.push_str("</item>");
        }
        out.push_str("</tagSet>");
    }
    out.push_str("</item>");
}

/// The opening of an answer document, with its request id.
fn open(name: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{name} xmlns=\"{NAMESPACE}\">\
         <requestId>{}</requestId>",
        request_id()
    )
}

/// `<prefix>` followed by 8 or 17 lowercase hex digits, as EC2 ids are.
fn is_resource_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A family and a size, such as `t3.small`.
fn is_instance_type(name: &str) -> bool {
    name.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty()
            && !size.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    })
}

fn check_instance_id(id: &str) -> Result<(), Refusal> {
    if is_resource_id(id, "i-") {
        Ok(())
    } else {
        Err(Refusal::new(
            400,
            "InvalidInstanceID.Malformed",
            &format!("Invalid id: \"{id}\""),
        ))
    }
}

fn not_found(id: &str) -> Refusal {
    Refusal::new(
        400,
        "InvalidInstanceID.NotFound",
        &format!("The instance ID '{id}' does not exist"),
    )
}
