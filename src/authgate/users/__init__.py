"""User repositories: who the resource owners are (`[flows.password] users`)."""
