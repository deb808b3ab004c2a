//! The fake Cloud SQL Admin API (v1): database instances.

use serde_json::{Map, Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{
    GceCall, GceState, Progress, Recorded, Route, check_labels, google_error, has_label,
    json_response, key2, now, valid_name,
};
use crate::recording::{lock, query_param};

/// What a step of a database's progress does.
#[derive(Debug, Clone)]
enum Step {
    State(&'static str),
    Policy(&'static str),
    Gone,
}

/// One Cloud SQL instance.
pub(super) struct SqlInstance {
    name: String,
    region: String,
    version: String,
    edition: String,
    tier: String,
    pub(super) state: &'static str,
    pub(super) policy: String,
    labels: Map<String, Value>,
    flags: Value,
    created: String,
    progress: Progress<Step>,
    /// The name of the operation that set `progress` going.
    pub(super) operation: String,
}

impl SqlInstance {
    /// A runnable PostgreSQL 16 instance, as if made outside Credless.
    pub(super) fn runnable(name: &str, region: &str, labels: &[(&str, &str)]) -> Self {
        Self {
            name: name.to_owned(),
            region: region.to_owned(),
            version: "POSTGRES_16".to_owned(),
            edition: "ENTERPRISE".to_owned(),
            tier: "db-custom-1-3840".to_owned(),
            state: "RUNNABLE",
            policy: "ALWAYS".to_owned(),
            labels: labels
                .iter()
                .map(|(key, value)| ((*key).to_owned(), json!(value)))
                .collect(),
            flags: json!([]),
            created: now(),
            progress: Progress::default(),
            operation: String::new(),
        }
    }

    fn json(&self, base: &str, project: &str) -> Value {
        let mut instance = json!({
            "kind": "sql#instance",
            "name": self.name,
            "project": project,
            "region": self.region,
            "gceZone": format!("{}-b", self.region),
            "databaseVersion": self.version,
            "state": self.state,
            "backendType": "SECOND_GEN",
            "instanceType": "CLOUD_SQL_INSTANCE",
            "connectionName": format!("{project}:{}:{}", self.region, self.name),
            "selfLink": format!("{base}/v1/projects/{project}/instances/{}", self.name),
            "createTime": self.created,
            "settings": {
                "kind": "sql#settings",
                "tier": self.tier,
                "edition": self.edition,
                "activationPolicy": self.policy,
                "userLabels": self.labels,
                "databaseFlags": self.flags,
                "dataDiskSizeGb": "10",
            },
        });
        if self.state == "RUNNABLE" && self.policy == "ALWAYS" {
            instance["ipAddresses"] = json!([{"type": "PRIMARY", "ipAddress": "203.0.113.10"}]);
        }
        instance
    }

    /// The operation still moving this instance, if any.
    pub(super) fn driving(&self) -> Option<&str> {
        self.progress.busy().then_some(self.operation.as_str())
    }

    /// Counts one read and moves on a step when due; `false` when the database is now gone.
    fn observe(&mut self, reads_per_step: usize) -> bool {
        match self.progress.observe(reads_per_step) {
            Some(Step::State(state)) => self.state = state,
            Some(Step::Policy(policy)) => policy.clone_into(&mut self.policy),
            Some(Step::Gone) => return false,
            None => {}
        }
        true
    }
}

/// Matches a Cloud SQL Admin path and method.
pub(super) fn route(method: &str, path: &[&str]) -> Option<Route> {
    let (call, project, name) = match (method, path) {
        ("GET", ["v1", "projects", project, "instances"]) => (GceCall::SqlList, project, ""),
        ("GET", ["v1", "projects", project, "operations"]) => {
            (GceCall::SqlOperationsList, project, "")
        }
        ("POST", ["v1", "projects", project, "instances"]) => (GceCall::SqlInsert, project, ""),
        ("GET", ["v1", "projects", project, "instances", name]) => {
            (GceCall::SqlGet, project, *name)
        }
        ("PATCH", ["v1", "projects", project, "instances", name]) => {
            (GceCall::SqlPatch, project, *name)
        }
        ("DELETE", ["v1", "projects", project, "instances", name]) => {
            (GceCall::SqlDelete, project, *name)
        }
        _ => return None,
    };
    Some(Route {
        call,
        project: (*project).to_owned(),
        zone: String::new(),
        name: name.to_owned(),
    })
}

impl GceState {
    pub(super) fn serve_sql(&self, route: &Route, request: &Request) -> ResponseTemplate {
        match route.call {
            GceCall::SqlInsert => self.insert_database(route, request),
            GceCall::SqlList => self.list_databases(route, request),
            GceCall::SqlGet => self.get_database(route),
            GceCall::SqlPatch => self.patch_database(route, request),
            GceCall::SqlOperationsList => self.sql_operations(route, request),
            _ => self.delete_database(route),
        }
    }

    fn insert_database(&self, route: &Route, request: &Request) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return google_error(400, "Invalid JSON payload received.", "parseError", "");
        };
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let name = text(&body["name"]);
        if !valid_name(&name) {
            return invalid_request(&format!("Invalid instance name: '{name}'."));
        }
        let version = text(&body["databaseVersion"]);
        let Some(major) = version
            .strip_prefix("POSTGRES_")
            .and_then(|v| v.parse::<u32>().ok())
        else {
            return invalid_request(&format!("Invalid database version: '{version}'."));
        };
        let settings = &body["settings"];
        let tier = text(&settings["tier"]);
        if tier.is_empty() {
            return invalid_request("Missing settings.tier.");
        }
        // New PostgreSQL 16+ instances are Enterprise Plus unless told otherwise, and that
        // edition takes only its own predefined tiers.
        let default_edition = if major >= 16 {
            "ENTERPRISE_PLUS"
        } else {
            "ENTERPRISE"
        };
        let edition = settings["edition"]
            .as_str()
            .unwrap_or(default_edition)
            .to_owned();
        let tier_fits = match edition.as_str() {
            "ENTERPRISE_PLUS" => tier.starts_with("db-perf-optimized-"),
            "ENTERPRISE" => {
                tier.starts_with("db-custom-")
                    || tier.starts_with("db-g1-")
                    || tier.starts_with("db-f1-")
            }
            _ => false,
        };
        if !tier_fits {
            return invalid_request(&format!("Invalid Tier ({tier}) for ({edition}) Edition."));
        }
        let labels = settings["userLabels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Err(message) = check_labels(&labels) {
            return invalid_request(&message);
        }
        let region = body["region"].as_str().unwrap_or("us-central1").to_owned();

        let mut databases = lock(&self.databases);
        let key = key2(&route.project, &name);
        if databases.contains_key(&key) {
            return google_error(
                409,
                "The Cloud SQL instance already exists.",
                "instanceAlreadyExists",
                "",
            );
        }
        let policy = settings["activationPolicy"]
            .as_str()
            .unwrap_or("ALWAYS")
            .to_owned();
        let instance = SqlInstance {
            name: name.clone(),
            region,
            version,
            edition,
            tier,
            state: "PENDING_CREATE",
            policy,
            labels,
            flags: settings["databaseFlags"].clone(),
            created: now(),
            progress: Progress::new([Step::State("RUNNABLE")]),
            operation: String::new(),
        };
        let instance = databases.entry(key).or_insert(instance);
        self.sql_operation(route, instance, "CREATE")
    }

    fn list_databases(&self, route: &Route, request: &Request) -> ResponseTemplate {
        let filter = match query_param(request, "filter")
            .as_deref()
            .map(user_label_filter)
        {
            None => None,
            Some(Some(filter)) => Some(filter),
            Some(None) => return invalid_request("Invalid filter expression."),
        };
        let reads_per_step = self.reads_per_step();
        let mut databases = lock(&self.databases);
        let mut items = Vec::new();
        let mut gone = Vec::new();
        for (key, database) in databases.iter_mut() {
            let matches = filter
                .as_ref()
                .is_none_or(|(name, value)| has_label(&database.labels, name, value));
            if key.0 != route.project || !matches {
                continue;
            }
            items.push(database.json(&self.base, &route.project));
            if !database.observe(reads_per_step) {
                gone.push(key.clone());
            }
        }
        for key in gone {
            databases.remove(&key);
        }
        // Google leaves `items` out of an empty list.
        let mut body = json!({"kind": "sql#instancesList"});
        if !items.is_empty() {
            body["items"] = Value::Array(items);
        }
        json_response(200, &body)
    }

    fn get_database(&self, route: &Route) -> ResponseTemplate {
        let key = key2(&route.project, &route.name);
        let mut databases = lock(&self.databases);
        let Some(database) = databases.get_mut(&key) else {
            return not_found();
        };
        let answer = json_response(200, &database.json(&self.base, &route.project));
        if !database.observe(self.reads_per_step()) {
            databases.remove(&key);
        }
        answer
    }

    /// Applies `settings.activationPolicy` (the only setting the fake changes) once the
    /// operation is observed to finish.
    fn patch_database(&self, route: &Route, request: &Request) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return google_error(400, "Invalid JSON payload received.", "parseError", "");
        };
        let mut databases = lock(&self.databases);
        let Some(database) = databases.get_mut(&key2(&route.project, &route.name)) else {
            return not_found();
        };
        let policy = match body["settings"]["activationPolicy"].as_str() {
            None => None,
            Some("ALWAYS") => Some("ALWAYS"),
            Some("NEVER") => Some("NEVER"),
            Some(other) => {
                return invalid_request(&format!("Invalid activation policy: '{other}'."));
            }
        };
        if database.progress.busy() || database.state != "RUNNABLE" {
            return google_error(
                409,
                "Operation failed because another operation was already in progress.",
                "operationInProgress",
                "",
            );
        }
        if let Some(policy) = policy.filter(|policy| *policy != database.policy) {
            database.progress = Progress::new([Step::Policy(policy)]);
        }
        self.sql_operation(route, database, "UPDATE")
    }

    fn delete_database(&self, route: &Route) -> ResponseTemplate {
        let mut databases = lock(&self.databases);
        let Some(database) = databases.get_mut(&key2(&route.project, &route.name)) else {
            return not_found();
        };
        database.state = "PENDING_DELETE";
        database.progress = Progress::new([Step::Gone]);
        self.sql_operation(route, database, "DELETE")
    }

    /// The `sql#operation` a change answers with, recorded as the one driving `instance`.
    fn sql_operation(
        &self,
        route: &Route,
        instance: &mut SqlInstance,
        kind: &str,
    ) -> ResponseTemplate {
        let project = &route.project;
        let name = &instance.name;
        let op = format!("{:032x}", self.next_id());
        let body = json!({
            "kind": "sql#operation",
            "targetLink": format!("{}/v1/projects/{project}/instances/{name}", self.base),
            "status": "PENDING",
            "user": "credless@example.iam.gserviceaccount.com",
            "insertTime": now(),
            "operationType": kind,
            "name": op,
            "targetId": name,
            "selfLink": format!("{}/v1/projects/{project}/operations/{op}", self.base),
            "targetProject": project,
        });
        let answer = json_response(200, &body);
        self.record(Recorded::new(true, project, "", name, body));
        instance.operation = op;
        answer
    }
}

fn not_found() -> ResponseTemplate {
    google_error(
        404,
        "The Cloud SQL instance does not exist.",
        "instanceDoesNotExist",
        "",
    )
}

/// `400` with reason `invalid`, as Cloud SQL answers a bad request.
fn invalid_request(detail: &str) -> ResponseTemplate {
    google_error(400, &format!("Invalid request: {detail}"), "invalid", "")
}

/// Reads `settings.userLabels.<key>:<value>` (or `=`).
fn user_label_filter(filter: &str) -> Option<(String, String)> {
    let (left, right) = filter.split_once([':', '='])?;
    let key = left.trim().strip_prefix("settings.userLabels.")?;
    let value = right.trim().trim_matches('"');
    (!key.is_empty()).then(|| (key.to_owned(), value.to_owned()))
}
