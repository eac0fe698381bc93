/// Namespace of the SieveTokenizers module.
public enum SieveTokenizers {}
