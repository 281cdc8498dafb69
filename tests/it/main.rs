//! Integration tests: the real `ranah` binary, real DNS clients and real zone checkers.

mod access;
mod admin_cli;
mod api_requests;
mod audit;
mod backup;
mod certificates;
mod contract;
mod differential;
mod dns_behaviour;
mod edge;
mod harness;
mod lifecycle;
mod limits;
mod notifications;
mod openapi;
mod operations;
mod pebble;
mod publish;
mod reports;
mod requests;
mod rrl;
mod secondaries;
mod writers;
mod zone_files;
