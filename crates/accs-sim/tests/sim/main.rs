//! Integration tests: a real `Sim` on a loopback port, driven with reqwest.

mod admin;
mod auth;
mod bulk;
mod common;
mod contract;
mod faults;
mod ims;
mod input;
mod inventory;
mod io_events;
mod journal;
mod products;
mod publish;
mod target;
