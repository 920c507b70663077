//! Forwarding Commerce's events to back-office targets, signed as Standard
//! Webhooks, each (event, target) pair remembered, failures dead-lettered
//! (docs/FORWARDING.md). Filled in by issue #33.
