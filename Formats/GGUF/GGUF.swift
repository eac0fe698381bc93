public enum GGUFFormatModule {}
