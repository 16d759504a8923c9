//! `kubehop forward`: a load-balancing Service port-forward (issue: forward).
