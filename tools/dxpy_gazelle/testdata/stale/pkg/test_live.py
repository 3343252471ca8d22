import pkg.live
