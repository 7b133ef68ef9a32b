"""Running the stages: settings, device and GPU placement, atomic writes, provenance,
the rule scripts' preamble."""
