//! The server binary itself, one test binary: it is started as a process in a temporary
//! directory (its embedded database, its configuration, its signals and logs) and driven over
//! HTTP, as an operator would (see `support`).

mod support;

mod backup;
mod binary;
mod commands;
mod logs;
