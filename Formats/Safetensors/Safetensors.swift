public enum SafetensorsFormatModule {}
