//! Integration tests: a real `Sim` on a loopback port, driven with reqwest.

mod admin;
mod auth;
mod common;
mod faults;
mod ims;
mod inventory;
mod products;
