#include "packet/packet_parser.h"
