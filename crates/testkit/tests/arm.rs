//! The fake Azure Resource Manager, called over HTTP as a client of ARM would.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::time::Duration;

use credless_testkit::arm::{ArmOp, FakeArm, FakeArmFailure};
use serde_json::{Value, json};

const GROUP: &str = "/subscriptions/sub-1/resourceGroups/rg";

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        version: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let query = version
            .map(|v| format!("?api-version={v}"))
            .unwrap_or_default();
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}{query}", self.base)
        };
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth("token");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }
}

async fn start() -> (FakeArm, Client) {
    let arm = FakeArm::start().await;
    let client = Client {
        http: reqwest::Client::new(),
        base: arm.management_endpoint(),
    };
    (arm, client)
}

fn vm_body(nic: &str) -> Value {
    json!({
        "location": "westeurope",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {"imageReference": {
                "publisher": "Canonical", "offer": "ubuntu", "sku": "22_04", "version": "latest"}},
            "osProfile": {"adminUsername": "azureuser", "linuxConfiguration": {
                "disablePasswordAuthentication": true,
                "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys",
                                        "keyData": "ssh-ed25519 AAAA"}]}}},
            "networkProfile": {"networkInterfaces": [{"id": nic}]},
        },
    })
}

/// A VNet with a subnet and a NIC in it; returns the NIC's id.
async fn network(client: &Client) -> String {
    let vnet = json!({"location": "westeurope", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}});
    let path = format!("{GROUP}/providers/Microsoft.Network/virtualNetworks/v");
    let (status, _, _) = client
        .send("PUT", &path, Some("2024-05-01"), Some(vnet))
        .await;
    assert_eq!(status, 201);
    let nic_path = format!("{GROUP}/providers/Microsoft.Network/networkInterfaces/n");
    let nic = json!({"location": "westeurope", "properties": {"ipConfigurations": [{
        "name": "ip", "properties": {"subnet": {"id": format!("{path}/subnets/default")}}}]}});
    let (status, _, body) = client
        .send("PUT", &nic_path, Some("2024-05-01"), Some(nic))
        .await;
    assert_eq!(status, 201, "{body}");
    nic_path
}

#[tokio::test]
async fn requests_need_a_bearer_token_and_the_providers_api_version() {
    let (arm, client) = start().await;
    let path = format!("{GROUP}/providers/Microsoft.Compute/virtualMachines");

    let response = client
        .http
        .get(format!("{}{path}?api-version=2024-07-01", client.base));
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AuthenticationFailed");

    let (status, _, body) = client.send("GET", &path, None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
    let (status, _, body) = client.send("GET", &path, Some("2019-03-01"), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("NoRegisteredProviderFound"))
    );
    let (status, _, body) = client.send("GET", &path, Some("2024-07-01"), None).await;
    assert_eq!((status, body), (200, json!({"value": []})));

    arm.require_token("the-right-one");
    let (status, _, body) = client.send("GET", &path, Some("2024-07-01"), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );
    assert_eq!(arm.calls(ArmOp::ListVirtualMachines), 5);
}

#[tokio::test]
async fn a_vm_needs_an_existing_nic_and_ssh_or_a_password() {
    let (_arm, client) = start().await;
    let path = format!("{GROUP}/providers/Microsoft.Compute/virtualMachines/vm");
    let version = Some("2024-07-01");

    let missing_nic = vm_body(&format!(
        "{GROUP}/providers/Microsoft.Network/networkInterfaces/x"
    ));
    let (status, _, body) = client.send("PUT", &path, version, Some(missing_nic)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidResourceReference"))
    );

    let nic = network(&client).await;
    let mut no_key = vm_body(&nic);
    no_key["properties"]["osProfile"]["linuxConfiguration"]["ssh"] = json!({"publicKeys": []});
    let (status, _, body) = client.send("PUT", &path, version, Some(no_key)).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("SSH"),
        "{body}"
    );

    let mut no_size = vm_body(&nic);
    no_size["properties"]["hardwareProfile"] = json!({});
    let (status, _, body) = client.send("PUT", &path, version, Some(no_size)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidParameter"))
    );

    let (status, _, body) = client
        .send("PUT", &path, version, Some(vm_body(&nic)))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["properties"]["provisioningState"], "Creating");
}

#[tokio::test]
async fn long_running_operations_report_progress_then_settle() {
    let (arm, client) = start().await;
    arm.set_steps(2);
    let nic = network(&client).await;
    let path = format!("{GROUP}/providers/Microsoft.Compute/virtualMachines/vm");
    let version = Some("2024-07-01");

    let (status, headers, _) = client
        .send("PUT", &path, version, Some(vm_body(&nic)))
        .await;
    assert_eq!(status, 201);
    let operation = headers["azure-asyncoperation"].to_str().unwrap().to_owned();
    let (_, _, first) = client.send("GET", &operation, None, None).await;
    assert_eq!(first["status"], "InProgress");
    let (_, _, second) = client.send("GET", &operation, None, None).await;
    assert_eq!(second["status"], "InProgress");
    let (_, _, third) = client.send("GET", &operation, None, None).await;
    assert_eq!(third["status"], "Succeeded");
    let view = format!("{path}?api-version=2024-07-01&$expand=instanceView");
    let (_, _, vm) = client
        .send("GET", &format!("{}{view}", client.base), None, None)
        .await;
    assert_eq!(vm["properties"]["provisioningState"], "Succeeded");
    let codes: Vec<&str> = vm["properties"]["instanceView"]["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["ProvisioningState/succeeded", "PowerState/running"]);

    let (status, headers, _) = client.send("DELETE", &path, version, None).await;
    assert_eq!(status, 202);
    let location = headers["location"].to_str().unwrap().to_owned();
    let (status, _, _) = client.send("GET", &location, None, None).await;
    assert_eq!(status, 202);
    let (_, _, deleting) = client.send("GET", &path, version, None).await;
    assert_eq!(deleting["properties"]["provisioningState"], "Deleting");
    let (status, _, _) = client.send("GET", &path, version, None).await;
    assert_eq!(status, 404);
    let (status, _, _) = client.send("DELETE", &path, version, None).await;
    assert_eq!(status, 204);
    assert!(
        arm.resource(&nic).is_some(),
        "the NIC did not ask to be deleted with the VM"
    );
}

#[tokio::test]
async fn a_server_needs_a_password_unless_entra_only_and_failures_are_injected() {
    let (arm, client) = start().await;
    let path = format!("{GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/db");
    let version = Some("2024-08-01");
    let mut server = json!({"location": "westeurope",
        "sku": {"name": "Standard_B1ms", "tier": "Burstable"},
        "properties": {"version": "16"}});

    let (status, _, _) = client
        .send("PUT", &path, version, Some(server.clone()))
        .await;
    assert_eq!(status, 400);
    server["properties"]["authConfig"] =
        json!({"activeDirectoryAuth": "Enabled", "passwordAuth": "Disabled"});
    arm.fail_next(
        ArmOp::PutFlexibleServer,
        FakeArmFailure::Throttle {
            retry_after: Duration::from_secs(9),
        },
    );
    let (status, headers, _) = client
        .send("PUT", &path, version, Some(server.clone()))
        .await;
    assert_eq!(
        (status, headers["retry-after"].to_str().unwrap()),
        (429, "9")
    );
    let (status, headers, _) = client.send("PUT", &path, version, Some(server)).await;
    assert_eq!(status, 202);
    assert!(headers.contains_key("azure-asyncoperation") && headers.contains_key("location"));
    let (_, _, body) = client.send("GET", &path, version, None).await;
    assert_eq!(body["properties"]["state"], "Provisioning");
    let stop = format!("{path}/stop");
    let (status, _, body) = client.send("POST", &stop, version, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("OperationNotAllowed"))
    );
    assert_eq!(arm.calls(ArmOp::PutFlexibleServer), 3);
}
