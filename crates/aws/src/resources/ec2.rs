//! VMs as EC2 instances: `RunInstances`, `DescribeInstances`, `StartInstances`,
//! `StopInstances` and `TerminateInstances`.

use std::collections::BTreeMap;

use credless_registry::Provider as ProviderKind;
use credless_resources::{Kind, Resource, ResourceError, ResourceRequest, SizeClass, State};
use serde::Deserialize;

use super::query::{Api, Params};
use super::{MANAGED_BY, NAME_TAG, tags_for};

/// At most this many pages of `DescribeInstances` are read for one list (1000 instances each).
const MAX_PAGES: usize = 20;

/// A state change of an existing instance.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    /// `StartInstances`.
    Start,
    /// `StopInstances`.
    Stop,
    /// `TerminateInstances`.
    Terminate,
}

/// The instance type of a portable size, or the size itself as a native type.
fn instance_type(size: &str) -> &str {
    match SizeClass::parse(size) {
        Some(SizeClass::Small) => "t3.small",
        Some(SizeClass::Medium) => "t3.large",
        Some(SizeClass::Large) => "t3.xlarge",
        None => size,
    }
}

/// The portable state of an EC2 instance state name.
fn state(name: &str) -> State {
    match name {
        "pending" => State::Pending,
        "running" => State::Running,
        "stopping" => State::Stopping,
        "stopped" => State::Stopped,
        "shutting-down" => State::Deleting,
        "terminated" => State::Deleted,
        _ => State::Unknown,
    }
}

/// Instances in the account and region, only Credless's when `managed_only`.
pub(super) async fn list(
    api: &Api<'_>,
    managed_only: bool,
) -> Result<Vec<Resource>, ResourceError> {
    let mut resources = Vec::new();
    let mut next_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut params = Params::action("DescribeInstances");
        params.add("MaxResults", "1000");
        if managed_only {
            params
                .add("Filter.1.Name", format!("tag:{}", MANAGED_BY.0))
                .add("Filter.1.Value.1", MANAGED_BY.1);
        }
        if let Some(token) = next_token.take() {
            params.add("NextToken", token);
        }
        let page: DescribeInstances = parse(&api.call(params).await?)?;
        let reservations = page.reservations.items.into_iter();
        let instances = reservations.flat_map(|reservation| reservation.instances.items);
        resources.extend(instances.map(|instance| resource(api, instance)));
        match page.next_token.filter(|token| !token.is_empty()) {
            Some(token) => next_token = Some(token),
            None => return Ok(resources),
        }
    }
    // Not yet: lists past MAX_PAGES pages are cut; needs a paginated list in the contract.
    Ok(resources)
}

/// One instance.
pub(super) async fn get(api: &Api<'_>, instance_id: &str) -> Result<Resource, ResourceError> {
    let mut params = Params::action("DescribeInstances");
    params.add("InstanceId.1", instance_id);
    let page: DescribeInstances = parse(&api.call(params).await?)?;
    page.reservations
        .items
        .into_iter()
        .flat_map(|reservation| reservation.instances.items)
        .find(|instance| instance.id == instance_id)
        .map(|instance| resource(api, instance))
        .ok_or_else(|| ResourceError::NotFound {
            what: format!("EC2 instance {instance_id}"),
        })
}

/// Launches one instance of the request's image and size, tagged.
pub(super) async fn create(
    api: &Api<'_>,
    request: &ResourceRequest,
) -> Result<Resource, ResourceError> {
    let Some(image) = request.image.as_deref().filter(|image| !image.is_empty()) else {
        return Err(ResourceError::Invalid {
            field: "image".to_owned(),
            reason: "an EC2 instance needs an AMI id, such as `ami-0abcdef1234567890`".to_owned(),
            cloud_code: None,
        });
    };
    if request.size.is_empty() {
        return Err(ResourceError::Invalid {
            field: "size".to_owned(),
            reason: "give `small`, `medium`, `large` or an EC2 instance type".to_owned(),
            cloud_code: None,
        });
    }

    let tags = tags_for(request);
    let mut params = Params::action("RunInstances");
    params
        .add("ImageId", image)
        .add("InstanceType", instance_type(&request.size))
        .add("MinCount", "1")
        .add("MaxCount", "1")
        .add("TagSpecification.1.ResourceType", "instance");
    for (n, (key, value)) in tags.iter().enumerate() {
        params
            .add(format!("TagSpecification.1.Tag.{}.Key", n + 1), key)
            .add(format!("TagSpecification.1.Tag.{}.Value", n + 1), value);
    }

    let launched: RunInstances = parse(&api.call(params).await?)?;
    let mut instance =
        launched
            .instances
            .items
            .into_iter()
            .next()
            .ok_or_else(|| ResourceError::Unavailable {
                cloud_code: None,
                message: "EC2 launched no instance".to_owned(),
            })?;
    // RunInstances need not echo the tags it applied.
    if instance.tags.items.is_empty() {
        instance.tags.items = tags
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect();
    }
    Ok(resource(api, instance))
}

/// Starts, stops or terminates an instance, and reads it back.
///
/// The state is the one the change reported, which is fresher than what a describe right
/// after it may show.
pub(super) async fn change_state(
    api: &Api<'_>,
    change: Change,
    instance_id: &str,
) -> Result<Resource, ResourceError> {
    let action = match change {
        Change::Start => "StartInstances",
        Change::Stop => "StopInstances",
        Change::Terminate => "TerminateInstances",
    };
    let mut params = Params::action(action);
    params.add("InstanceId.1", instance_id);
    let changed: StateChanges = parse(&api.call(params).await?)?;
    let current = changed
        .instances
        .items
        .into_iter()
        .find(|change| change.id == instance_id)
        .map(|change| change.current.name);

    let mut resource = get(api, instance_id).await?;
    if let Some(name) = current {
        resource.state = state(&name);
        resource.details["native_state"] = serde_json::Value::String(name);
    }
    Ok(resource)
}

/// The portable view of an instance.
fn resource(api: &Api<'_>, instance: Instance) -> Resource {
    let mut tags: BTreeMap<String, String> = instance
        .tags
        .items
        .into_iter()
        .map(|tag| (tag.key, tag.value))
        .collect();
    let name = tags.remove(NAME_TAG).unwrap_or_else(|| instance.id.clone());
    let details = serde_json::json!({
        "native_state": instance.state.name,
        "image": instance.image,
        "availability_zone": instance.placement.and_then(|p| p.availability_zone),
        "private_ip": instance.private_ip,
        "public_ip": instance.public_ip,
    });
    Resource {
        id: api.resource_id(Kind::Vm, &instance.id),
        account: api.account().to_owned(),
        provider: ProviderKind::Aws,
        kind: Kind::Vm,
        name,
        region: api.region().to_owned(),
        size: instance.instance_type,
        native_id: instance.id,
        state: state(&instance.state.name),
        created_at: instance.launch_time,
        tags,
        details,
    }
}

/// Reads an EC2 answer; an unreadable success is `Unavailable`.
fn parse<T: for<'de> Deserialize<'de>>(body: &str) -> Result<T, ResourceError> {
    quick_xml::de::from_str(body).map_err(|_| ResourceError::Unavailable {
        cloud_code: None,
        message: "EC2 answered something that is not the expected XML".to_owned(),
    })
}

/// EC2's `<xSet><item>…</item></xSet>` lists.
#[derive(Debug, Deserialize)]
struct Items<T> {
    #[serde(rename = "item", default = "Vec::new")]
    items: Vec<T>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

#[derive(Debug, Deserialize)]
struct DescribeInstances {
    #[serde(rename = "reservationSet", default)]
    reservations: Items<Reservation>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reservation {
    #[serde(rename = "instancesSet", default)]
    instances: Items<Instance>,
}

#[derive(Debug, Deserialize)]
struct RunInstances {
    #[serde(rename = "instancesSet", default)]
    instances: Items<Instance>,
}

#[derive(Debug, Deserialize)]
struct Instance {
    #[serde(rename = "instanceId")]
    id: String,
    #[serde(rename = "imageId")]
    image: Option<String>,
    #[serde(rename = "instanceState")]
    state: InstanceState,
    #[serde(rename = "instanceType", default)]
    instance_type: String,
    #[serde(rename = "launchTime")]
    launch_time: Option<String>,
    placement: Option<Placement>,
    #[serde(rename = "privateIpAddress")]
    private_ip: Option<String>,
    #[serde(rename = "ipAddress")]
    public_ip: Option<String>,
    #[serde(rename = "tagSet", default)]
    tags: Items<Tag>,
}

#[derive(Debug, Deserialize)]
struct InstanceState {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Placement {
    #[serde(rename = "availabilityZone")]
    availability_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Tag {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
struct StateChanges {
    #[serde(rename = "instancesSet", default)]
    instances: Items<StateChange>,
}

#[derive(Debug, Deserialize)]
struct StateChange {
    #[serde(rename = "instanceId")]
    id: String,
    #[serde(rename = "currentState")]
    current: InstanceState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_sizes_map_to_instance_types_and_native_types_pass_through() {
        assert_eq!(instance_type("small"), "t3.small");
        assert_eq!(instance_type("medium"), "t3.large");
        assert_eq!(instance_type("large"), "t3.xlarge");
        assert_eq!(instance_type("m7g.2xlarge"), "m7g.2xlarge");
    }

    #[test]
    fn every_ec2_state_has_a_portable_state() {
        let cases = [
            ("pending", State::Pending),
            ("running", State::Running),
            ("stopping", State::Stopping),
            ("stopped", State::Stopped),
            ("shutting-down", State::Deleting),
            ("terminated", State::Deleted),
            ("rebooting", State::Unknown),
        ];
        for (name, expected) in cases {
            assert_eq!(state(name), expected, "{name}");
        }
    }
}
