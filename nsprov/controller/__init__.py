"""The operator's side: inventory, playbooks, agent bundle, SSH transport, runner."""
