#include "net/drained_read.hpp"

#if TNO_MPC_COMM_DRAINED_READS
namespace tno::mpc::communication::net::drained_read_detail {

namespace {
// A descriptor state's reactor is a private member, read through an explicit template
// instantiation, which the language exempts from access checking ([temp.spec.general]); here, in
// one translation unit, as the language allows one such instantiation in a program.
template <class Member, Member Pointer, class Tag>
struct Expose {
  friend Member member_of(Tag) { return Pointer; }
};
struct ReactorOfState {
  friend Reactor* Reactor::descriptor_state::*member_of(ReactorOfState);
};
template struct Expose<Reactor * Reactor::descriptor_state::*, &Reactor::descriptor_state::reactor_,
                       ReactorOfState>;
}  // namespace

Reactor* reactor_of(Reactor::descriptor_state* state) noexcept {
  return state->*member_of(ReactorOfState{});
}

}  // namespace tno::mpc::communication::net::drained_read_detail
#endif
