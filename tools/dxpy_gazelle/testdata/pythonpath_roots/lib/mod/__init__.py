from mod.impl import value
