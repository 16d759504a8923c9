//! Real connections along every hop (issue: the probe).
