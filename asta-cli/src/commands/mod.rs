//! One module per top-level command.

pub mod audit;
pub mod audit_replay;
pub mod backup;
pub mod calendar;
pub mod control;
pub mod demo;
pub mod doctor;
pub mod init;
pub mod instruments;
pub mod keys;
pub mod kill;
pub mod risk;
pub mod serve;
pub mod status;
pub mod totp;
pub mod vault;
