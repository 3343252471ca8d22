from mypkg.impl import thing
