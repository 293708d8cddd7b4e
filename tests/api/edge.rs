//! The HTTP edge under hostile clients (issue 11): `/metrics` labels from closed sets.

mod labels;
