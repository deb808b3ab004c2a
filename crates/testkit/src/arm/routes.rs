//! Which call a method and path name.

use super::ArmOp;
use super::kinds::Kind;

/// What a path names.
pub(super) struct Route {
    pub(super) op: ArmOp,
    pub(super) kind: Kind,
    /// The resource's ARM id (of the collection, for lists; of the operation, for statuses).
    pub(super) id: String,
    pub(super) location_url: bool,
}

/// Maps a method and path to a call, or `None` for a path the fake does not serve.
pub(super) fn route(method: &str, path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let id = |n: usize| format!("/{}", segments[..n].join("/"));
    let make = |op, kind, n, location_url| {
        Some(Route {
            op,
            kind,
            id: id(n),
            location_url,
        })
    };
    match (method, lower.as_slice()) {
        ("GET", ["subscriptions", _, "providers", _, "locations", _, kind, _]) => {
            let status = matches!(*kind, "operations" | "azureasyncoperation");
            let result = *kind == "operationresults";
            (status || result).then(|| Route {
                op: ArmOp::OperationStatus,
                kind: Kind::VirtualMachine,
                id: id(8),
                location_url: result,
            })
        }
        (
            _,
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                rest @ ..,
            ],
        ) => {
            use ArmOp::*;
            use Kind::*;
            match (method, rest) {
                ("GET", ["microsoft.network", "virtualnetworks", _]) => {
                    make(GetVirtualNetwork, VirtualNetwork, 8, false)
                }
                ("PUT", ["microsoft.network", "virtualnetworks", _]) => {
                    make(PutVirtualNetwork, VirtualNetwork, 8, false)
                }
                ("GET", ["microsoft.network", "virtualnetworks", _, "subnets", _]) => {
                    make(GetSubnet, Subnet, 10, false)
                }
                ("PUT", ["microsoft.network", "virtualnetworks", _, "subnets", _]) => {
                    make(PutSubnet, Subnet, 10, false)
                }
                ("GET", ["microsoft.network", "networkinterfaces", _]) => {
                    make(GetNetworkInterface, NetworkInterface, 8, false)
                }
                ("PUT", ["microsoft.network", "networkinterfaces", _]) => {
                    make(PutNetworkInterface, NetworkInterface, 8, false)
                }
                ("GET", ["microsoft.compute", "virtualmachines"]) => {
                    make(ListVirtualMachines, VirtualMachine, 7, false)
                }
                ("GET", ["microsoft.compute", "virtualmachines", _]) => {
                    make(GetVirtualMachine, VirtualMachine, 8, false)
                }
                ("PUT", ["microsoft.compute", "virtualmachines", _]) => {
                    make(PutVirtualMachine, VirtualMachine, 8, false)
                }
                ("DELETE", ["microsoft.compute", "virtualmachines", _]) => {
                    make(DeleteVirtualMachine, VirtualMachine, 8, false)
                }
                ("POST", ["microsoft.compute", "virtualmachines", _, "start"]) => {
                    make(StartVirtualMachine, VirtualMachine, 8, false)
                }
                ("POST", ["microsoft.compute", "virtualmachines", _, "deallocate"]) => {
                    make(DeallocateVirtualMachine, VirtualMachine, 8, false)
                }
                ("GET", ["microsoft.dbforpostgresql", "flexibleservers"]) => {
                    make(ListFlexibleServers, FlexibleServer, 7, false)
                }
                ("GET", ["microsoft.dbforpostgresql", "flexibleservers", _]) => {
                    make(GetFlexibleServer, FlexibleServer, 8, false)
                }
                ("PUT", ["microsoft.dbforpostgresql", "flexibleservers", _]) => {
                    make(PutFlexibleServer, FlexibleServer, 8, false)
                }
                ("DELETE", ["microsoft.dbforpostgresql", "flexibleservers", _]) => {
                    make(DeleteFlexibleServer, FlexibleServer, 8, false)
                }
                ("POST", ["microsoft.dbforpostgresql", "flexibleservers", _, "start"]) => {
                    make(StartFlexibleServer, FlexibleServer, 8, false)
                }
                ("POST", ["microsoft.dbforpostgresql", "flexibleservers", _, "stop"]) => {
                    make(StopFlexibleServer, FlexibleServer, 8, false)
                }
                _ => None,
            }
        }
        _ => None,
    }
}
