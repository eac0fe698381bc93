/// Namespace of the SieveRuntime module.
public enum SieveRuntime {}
