//! Printed forms of the engine's model: `chain` and `route` as text, JSON and YAML.
