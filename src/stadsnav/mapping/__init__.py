"""The declarative mapping engine: decoded payload + device registry → NGSI-LD attributes."""

from stadsnav.mapping.engine import CompiledMapping, MappingError, compile_mapping

__all__ = ["CompiledMapping", "MappingError", "compile_mapping"]
