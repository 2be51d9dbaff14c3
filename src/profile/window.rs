//! Windowed aggregates over natural days (owned by the profile helper; see the contract in the task).
