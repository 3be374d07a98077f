// filled in by the manager core
