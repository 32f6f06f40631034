//! Integration tests live in `tests/`; shared helpers in `tests/common`.
