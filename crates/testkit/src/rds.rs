//! A stateful fake of the Amazon RDS Query API (version `2014-10-31`) for the DB instance calls
//! a resource provider makes: `CreateDBInstance`, `DescribeDBInstances`, `StartDBInstance`,
//! `StopDBInstance` and `DeleteDBInstance`.
//!
//! Requests must be `POST /` form bodies signed with SigV4 for the `rds` service (the shape is
//! checked, not the signature). Answers are RDS's XML documents, errors RDS's
//! `<ErrorResponse><Error><Type><Code><Message>` with its codes: `DBInstanceNotFound`,
//! `DBInstanceAlreadyExists`, `InvalidDBInstanceState`, `InvalidParameterValue`,
//! `InvalidParameterCombination`, `MissingParameter`, and through [`FakeRds::fail_next`]
//! `AccessDenied`, `InstanceQuotaExceeded` and `Throttling`. Instances move `creating` →
//! `backing-up` → `available`, `stopping` → `stopped`, `starting` → `available`, and
//! `deleting` → gone, each step after a read or two seconds ([`FakeRds::set_pace`]).

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::{MockServer, ResponseTemplate};

use crate::aws_query::{
    self, Answer, AwsFailure, Controls, Pace, QueryApi, QueryRequest, Refusal, Steps, element,
    hex_id, request_id, timestamp, xml,
};
use crate::recording::lock;

/// The account in every ARN.
const ACCOUNT_ID: &str = "123456789012";

const NAMESPACE: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

/// The marker of a state that ends with the instance gone.
const GONE: &str = "";

/// A fake of RDS on `127.0.0.1` at a random port. Cloning gives another handle on the same
/// fake; the server stops when the last handle is dropped.
#[derive(Clone)]
pub struct FakeRds {
    server: Arc<MockServer>,
    state: Arc<RdsState>,
}

impl FakeRds {
    /// Starts an RDS with no DB instances.
    pub async fn start() -> Self {
        let (server, state) = aws_query::start::<RdsState>().await;
        Self { server, state }
    }

    /// The endpoint URL, such as `http://127.0.0.1:41237`.
    pub fn endpoint(&self) -> String {
        self.server.uri()
    }

    /// A transitional status ends after `reads` reads of the instance or after `time`,
    /// whichever comes first (defaults: one read, two seconds).
    pub fn set_pace(&self, reads: usize, time: Duration) {
        self.state.controls.set_pace(reads, time);
    }

    /// Makes the next call of `action` (such as `CreateDBInstance`) fail as `failure` says.
    pub fn fail_next(&self, action: &str, failure: AwsFailure) {
        self.state.controls.fail_next(action, failure);
    }

    /// The status of DB instance `identifier` (in any region) as last observed, if it exists.
    pub fn status(&self, identifier: &str) -> Option<String> {
        let instances = lock(&self.state.instances);
        let mut found = instances.values().filter(|db| db.identifier == identifier);
        found.next().map(|db| db.status.clone())
    }
}

impl fmt::Debug for FakeRds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeRds")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct RdsState {
    controls: Controls,
    /// By (region, identifier); identifiers are kept lowercase, as RDS keeps them.
    instances: Mutex<BTreeMap<String, DbInstance>>,
}

struct DbInstance {
    identifier: String,
    region: String,
    class: String,
    engine: String,
    engine_version: String,
    status: String,
    steps: Steps,
    created_at: String,
    master_username: String,
    managed_password: bool,
    iam_authentication: bool,
    allocated_storage: String,
    tags: Vec<(String, String)>,
}

impl QueryApi for RdsState {
    const SERVICE: &'static str = "rds";

    fn controls(&self) -> &Controls {
        &self.controls
    }

    fn answer(&self, query: &QueryRequest) -> Answer {
        match query.action.as_str() {
            "CreateDBInstance" => self.create(query),
            "DescribeDBInstances" => self.describe(query),
            "StartDBInstance" | "StopDBInstance" | "DeleteDBInstance" => self.change(query),
            other => Err(Refusal::new(
                400,
                "InvalidAction",
                &format!("Could not find operation {other} for version 2014-10-31"),
            )),
        }
    }

    fn failure(failure: AwsFailure, action: &str) -> Refusal {
        match failure {
            AwsFailure::Denied => Refusal::new(
                403,
                "AccessDenied",
                &format!("User is not authorized to perform: rds:{action}"),
            ),
            AwsFailure::Quota => Refusal::new(
                400,
                "InstanceQuotaExceeded",
                "Cannot create more than 40 DB instances.",
            ),
            AwsFailure::Throttled => Refusal::new(400, "Throttling", "Rate exceeded"),
            AwsFailure::ServerError => {
                Refusal::new(500, "InternalFailure", "An internal error occurred.")
            }
        }
    }

    /// RDS's error document.
    fn render(refusal: &Refusal) -> ResponseTemplate {
        let kind = if refusal.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        let mut body = format!("<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type>");
        refusal.write_code_and_message(&mut body);
        let _ = write!(
            body,
            "</Error><RequestId>{}</RequestId></ErrorResponse>",
            request_id()
        );
        xml(refusal.status, body)
    }
}

impl RdsState {
    fn create(&self, query: &QueryRequest) -> Answer {
        let identifier = query.required("DBInstanceIdentifier")?.to_ascii_lowercase();
        check_identifier(&identifier)?;
        let class = query.required("DBInstanceClass")?;
        let engine = query.required("Engine")?;
        if !matches!(engine, "postgres" | "mysql" | "mariadb") {
            return Err(Refusal::invalid(&format!("Invalid DB engine: {engine}")));
        }
        if !class.starts_with("db.") {
            return Err(Refusal::invalid(&format!(
                "Invalid DB Instance class: {class}"
            )));
        }
        let master_username = query.required("MasterUsername")?;
        let managed_password = query.param("ManageMasterUserPassword") == Some("true");
        match (
            managed_password,
            query.param("MasterUserPassword").is_some(),
        ) {
            (false, false) => {
                return Err(Refusal::new(
                    400,
                    "InvalidParameterValue",
                    "The parameter MasterUserPassword must be provided and must not be blank.",
                ));
            }
            (true, true) => {
                return Err(Refusal::new(
                    400,
                    "InvalidParameterCombination",
                    "You can't specify MasterUserPassword and ManageMasterUserPassword together.",
                ));
            }
            _ => {}
        }
        let key = key(&query.region, &identifier);
        let mut instances = lock(&self.instances);
        if instances.contains_key(&key) {
            return Err(Refusal::new(
                400,
                "DBInstanceAlreadyExists",
                "DB instance already exists",
            ));
        }
        let default_version = if engine == "postgres" {
            "16.3"
        } else {
            "8.0.36"
        };
        let db = DbInstance {
            identifier,
            region: query.region.clone(),
            class: class.to_owned(),
            engine: engine.to_owned(),
            engine_version: query
                .param("EngineVersion")
                .unwrap_or(default_version)
                .to_owned(),
            status: "creating".to_owned(),
            steps: Steps::new(&["backing-up", "available"]),
            created_at: timestamp(),
            master_username: master_username.to_owned(),
            managed_password,
            iam_authentication: query.param("EnableIAMDatabaseAuthentication") == Some("true"),
            allocated_storage: query.param("AllocatedStorage").unwrap_or("20").to_owned(),
            tags: query.tags("Tags.Tag"),
        };
        let body = answer("CreateDBInstance", &db);
        instances.insert(key, db);
        Ok(xml(200, body))
    }

    fn describe(&self, query: &QueryRequest) -> Answer {
        let page_size = match query.param("MaxRecords").map(str::parse::<usize>) {
            None => 100,
            Some(Ok(size)) if (20..=100).contains(&size) => size,
            Some(_) => {
                return Err(Refusal::invalid(
                    "Invalid value for MaxRecords. Must be between 20 and 100",
                ));
            }
        };
        let wanted = query
            .param("DBInstanceIdentifier")
            .map(str::to_ascii_lowercase);
        let pace = self.controls.pace();
        let mut instances = lock(&self.instances);
        observe_all(&mut instances, &query.region, wanted.as_deref(), pace);

        let after = query.param("Marker").unwrap_or_default();
        let mut shown = Vec::new();
        let mut marker = None;
        for (key, db) in instances.iter() {
            let listed = db.region == query.region
                && wanted.as_deref().is_none_or(|id| id == db.identifier)
                && key.as_str() > after;
            if !listed {
                continue;
            }
            if shown.len() == page_size {
                marker = shown.last().map(|(key, _): &(String, String)| key.clone());
                break;
            }
            shown.push((key.clone(), describe_instance(db)));
        }
        if let (Some(identifier), true) = (&wanted, shown.is_empty()) {
            return Err(not_found(identifier));
        }

        let mut body = open("DescribeDBInstances");
        body.push_str("<DBInstances>");
        for (_, instance) in &shown {
            body.push_str(instance);
        }
        body.push_str("</DBInstances>");
        if let Some(marker) = marker {
            element(&mut body, "Marker", &marker);
        }
        body.push_str(&close("DescribeDBInstances"));
        Ok(xml(200, body))
    }

    fn change(&self, query: &QueryRequest) -> Answer {
        let identifier = query.required("DBInstanceIdentifier")?.to_ascii_lowercase();
        let action = query.action.as_str();
        if action == "DeleteDBInstance"
            && query.param("SkipFinalSnapshot") != Some("true")
            && query.param("FinalDBSnapshotIdentifier").is_none()
        {
            return Err(Refusal::new(
                400,
                "InvalidParameterCombination",
                "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.",
            ));
        }
        let mut instances = lock(&self.instances);
        let Some(db) = instances.get_mut(&key(&query.region, &identifier)) else {
            return Err(not_found(&identifier));
        };
        let (needed, now, then): (&[&str], &str, &[&str]) = match action {
            "StartDBInstance" => (&["stopped"], "starting", &["available"]),
            "StopDBInstance" => (&["available"], "stopping", &["stopped"]),
            _ => (
                &["available", "stopped", "failed", "backing-up", "creating"],
                "deleting",
                &[GONE],
            ),
        };
        if !needed.contains(&db.status.as_str()) {
            let message = match action {
                "StartDBInstance" => format!(
                    "Instance {identifier} cannot be started as it is not in stopped state."
                ),
                "StopDBInstance" => format!("Instance {identifier} is not in available state."),
                _ => format!("Instance {identifier} is already being deleted."),
            };
            return Err(Refusal::new(400, "InvalidDBInstanceState", &message));
        }
        db.status = now.to_owned();
        db.steps = Steps::new(then);
        Ok(xml(200, answer(action, db)))
    }
}

/// Counts one read of every instance a describe shows, settling or forgetting them.
fn observe_all(
    instances: &mut BTreeMap<String, DbInstance>,
    region: &str,
    wanted: Option<&str>,
    pace: Pace,
) {
    let mut gone = Vec::new();
    for (key, db) in instances.iter_mut() {
        if db.region != region || wanted.is_some_and(|id| id != db.identifier) {
            continue;
        }
        match db.steps.observe(pace) {
            Some(next) if next == GONE => gone.push(key.clone()),
            Some(next) => db.status = next,
            None => {}
        }
    }
    for key in gone {
        instances.remove(&key);
    }
}

fn key(region: &str, identifier: &str) -> String {
    format!("{region}/{identifier}")
}

/// `<Action>Response><Action>Result><DBInstance>…`, closed.
fn answer(action: &str, db: &DbInstance) -> String {
    let mut body = open(action);
    body.push_str(&describe_instance(db));
    body.push_str(&close(action));
    body
}

fn describe_instance(db: &DbInstance) -> String {
    let mut out = String::from("<DBInstance>");
    element(&mut out, "DBInstanceIdentifier", &db.identifier);
    element(&mut out, "DBInstanceClass", &db.class);
    element(&mut out, "Engine", &db.engine);
    element(&mut out, "EngineVersion", &db.engine_version);
    element(&mut out, "DBInstanceStatus", &db.status);
    element(&mut out, "MasterUsername", &db.master_username);
    element(&mut out, "AllocatedStorage", &db.allocated_storage);
    let arn = format!(
        "arn:aws:rds:{}:{ACCOUNT_ID}:db:{}",
        db.region, db.identifier
    );
    element(&mut out, "DBInstanceArn", &arn);
    // RDS gives no endpoint or creation time until the instance has been created.
    if db.status != "creating" {
        element(&mut out, "InstanceCreateTime", &db.created_at);
        let _ = write!(
            out,
            "<Endpoint><Address>{}.c{}.{}.rds.amazonaws.com</Address><Port>{}</Port></Endpoint>",
            db.identifier,
            &hex_id(12),
            db.region,
            if db.engine == "postgres" { 5432 } else { 3306 }
        );
    }
    if db.managed_password {
        let secret = format!(
            "arn:aws:secretsmanager:{}:{ACCOUNT_ID}:secret:rds!db-{}",
            db.region,
            hex_id(8)
        );
        out.push_str("<MasterUserSecret>");
        element(&mut out, "SecretArn", &secret);
        element(&mut out, "SecretStatus", "active");
        out.push_str("</MasterUserSecret>");
    }
    element(
        &mut out,
        "IAMDatabaseAuthenticationEnabled",
        if db.iam_authentication {
            "true"
        } else {
            "false"
        },
    );
    out.push_str("<TagList>");
    for (key, value) in &db.tags {
        out.push_str("<Tag>");
        element(&mut out, "Key", key);
        element(&mut out, "Value", value);
        out.push_str("</Tag>");
    }
    out.push_str("</TagList></DBInstance>");
    out
}

fn open(action: &str) -> String {
    format!("<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>")
}

fn close(action: &str) -> String {
    format!(
        "</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>\
         </{action}Response>",
        request_id()
    )
}

/// 1 to 63 letters, digits or hyphens; a letter first; no hyphen last or twice in a row.
fn check_identifier(identifier: &str) -> Result<(), Refusal> {
    let valid = (1..=63).contains(&identifier.len())
        && identifier.starts_with(|c: char| c.is_ascii_lowercase())
        && !identifier.ends_with('-')
        && !identifier.contains("--")
        && identifier
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Refusal::invalid(
            "The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must \
             begin with a letter; must contain only ASCII letters, digits, and hyphens; and \
             must not end with a hyphen or contain two consecutive hyphens.",
        ))
    }
}

fn not_found(identifier: &str) -> Refusal {
    Refusal::new(
        404,
        "DBInstanceNotFound",
        &format!("DBInstance {identifier} not found."),
    )
}
