from .. import impl
