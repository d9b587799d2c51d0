"""The vocabulary the controller and the agent share. Standard library only: it ships in the bundle."""
