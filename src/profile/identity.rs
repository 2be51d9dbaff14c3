//! Identity normalization and salted hashing (owned by the profile helper).
