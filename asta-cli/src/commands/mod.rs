//! One module per top-level command.

pub mod audit;
pub mod backup;
pub mod doctor;
pub mod totp;
pub mod vault;
