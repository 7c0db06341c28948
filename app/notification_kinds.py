"""The kinds of notification: their subject and message, marked for translation.

Each message is formatted with the notification's params. A notification's
e-mail uses templates/email/notification.{txt,html} unless a kind names its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString


@dataclass(frozen=True)
class Kind:
    subject: LazyString
    message: LazyString


KINDS: dict[str, Kind] = {
    "company.submitted": Kind(
        _l("Company %(company)s submitted for verification"),
        _l("%(company)s was submitted for verification and waits in the queue."),
    ),
    "company.approved": Kind(
        _l("Your company is verified"),
        _l("%(company)s is verified. You can now post jobs on Plasticonnect Hub."),
    ),
    "company.rejected": Kind(
        _l("Your company could not be verified"),
        _l("%(company)s could not be verified. Reason: %(reason)s"),
    ),
    "company.info_requested": Kind(
        _l("The hub needs more information about your company"),
        _l("The hub asks about %(company)s: %(question)s"),
    ),
    "company.suspended": Kind(
        _l("Your company account is suspended"),
        _l("%(company)s is suspended. Reason: %(reason)s"),
    ),
    "company.reinstated": Kind(
        _l("Your company account is active again"),
        _l("%(company)s is active again."),
    ),
    "expert.submitted": Kind(
        _l("Expert %(pseudonym)s submitted for verification"),
        _l("Expert %(pseudonym)s was submitted for verification and waits in the queue."),
    ),
    "expert.approved": Kind(
        _l("Your expert profile is verified"),
        _l("Your profile (%(pseudonym)s) is verified. You will now be matched with jobs."),
    ),
    "expert.rejected": Kind(
        _l("Your expert profile could not be verified"),
        _l("Your profile could not be verified. Reason: %(reason)s"),
    ),
    "expert.info_requested": Kind(
        _l("The hub needs more information about your profile"),
        _l("The hub asks: %(question)s"),
    ),
    "expert.suspended": Kind(
        _l("Your expert profile is suspended"),
        _l("Your profile is suspended. Reason: %(reason)s"),
    ),
    "expert.reinstated": Kind(
        _l("Your expert profile is active again"),
        _l("Your profile is active again."),
    ),
    "document.rejected": Kind(
        _l("A document was not accepted"),
        _l("The document “%(name)s” was not accepted: %(reason)s"),
    ),
    "member.joined": Kind(
        _l("%(name)s joined your company"),
        _l("%(name)s accepted your invitation and joined %(company)s."),
    ),
    "account.password_changed": Kind(
        _l("Your password was changed"),
        _l("The password of your account was changed. If this was not you, reset it now."),
    ),
    "account.suspended": Kind(
        _l("Your account is suspended"),
        _l("Your account is suspended. Reason: %(reason)s"),
    ),
    "account.reinstated": Kind(
        _l("Your account is active again"),
        _l("Your account is active again; you can log in."),
    ),
    "account.two_factor_disabled": Kind(
        _l("Two-factor authentication was turned off"),
        _l("Two-factor authentication was turned off for your account. If this was not you, "
           "reset your password and turn it on again."),
    ),
    # Jobs (issue 3)
    "job.submitted": Kind(
        _l("Job “%(job)s” submitted for review"),
        _l("%(company)s submitted the job “%(job)s”; it waits in the review queue."),
    ),
    "job.clarification_requested": Kind(
        _l("The hub has a question about your job"),
        _l("The hub asks about the job “%(job)s”: %(question)s"),
    ),
    "job.clarification_answered": Kind(
        _l("Question about job “%(job)s” answered"),
        _l("%(company)s answered the question about “%(job)s”; it is back in the review queue."),
    ),
    "job.published": Kind(
        _l("Your job is published"),
        _l("The job “%(job)s” is published (%(visibility)s)."),
    ),
    "job.rejected": Kind(
        _l("Your job was not published"),
        _l("The job “%(job)s” was not published. Reason: %(reason)s"),
    ),
    "job.cancelled": Kind(
        _l("Your job was cancelled"),
        _l("The hub cancelled the job “%(job)s”. Reason: %(reason)s"),
    ),
    "job.closed": Kind(
        _l("Your job was closed"),
        _l("The hub closed the job “%(job)s”. Reason: %(reason)s"),
    ),
    "job.invited": Kind(
        _l("You are invited to a job"),
        _l("The hub invites you to look at the job “%(job)s”."),
    ),
    "job.withdrawn": Kind(
        _l("A job was withdrawn"),
        _l("The job “%(job)s” you were invited to was withdrawn."),
    ),
    # Matching, invitations and offers (issue 4)
    "job.recommended": Kind(
        _l("A job matches your profile"),
        _l("The job “%(job)s” matches your profile; have a look and make an offer if it suits you."),
    ),
    "match.failed": Kind(
        _l("Ranking of job “%(job)s” failed"),
        _l("The ranking of the experts for “%(job)s” failed: %(error)s. Start it again from the matching page."),
    ),
    "invitation.declined": Kind(
        _l("%(expert)s declined the invitation to “%(job)s”"),
        _l("%(expert)s declined the invitation to the job “%(job)s”. Reason: %(reason)s"),
    ),
    "offer.submitted": Kind(
        _l("New offer from %(expert)s on “%(job)s”"),
        _l("%(expert)s sent an offer of %(price)s for the job “%(job)s”; it waits in the offers queue."),
    ),
    "offer.version_added": Kind(
        _l("%(expert)s changed the offer on “%(job)s”"),
        _l("%(expert)s sent version %(number)s of the offer on “%(job)s” (%(price)s)."),
    ),
    "offer.withdrawn": Kind(
        _l("%(expert)s withdrew the offer on “%(job)s”"),
        _l("%(expert)s withdrew the offer on the job “%(job)s”. Reason: %(reason)s"),
    ),
    # Negotiation through the hub (issue 5). Company kinds name the expert by pseudonym and the client
    # price only; expert kinds never carry the client price, the fee or the company's name.
    "offer.forwarded_to_company": Kind(
        _l("The hub forwarded an offer for “%(job)s”"),
        _l("The hub forwarded an offer from %(expert)s for the job “%(job)s” (client price %(client_price)s). "
           "Compare the offers on the job's page."),
    ),
    "offer.forwarded": Kind(
        _l("Your offer was forwarded to the company"),
        _l("The hub forwarded version %(number)s of your offer on “%(job)s” to the company, which sees only "
           "your pseudonym."),
    ),
    "offer.declined": Kind(
        _l("The hub did not forward your offer"),
        _l("The hub decided not to forward your offer on “%(job)s” to the company. Reason: %(reason)s"),
    ),
    "offer.accepted": Kind(
        _l("Your offer was accepted"),
        _l("The company accepted your offer on “%(job)s”. The hub prepares the subcontract and the NDA for "
           "your signature."),
    ),
    "offer.accepted_by_company": Kind(
        _l("Offer accepted for “%(job)s”"),
        _l("The offer of %(expert)s for “%(job)s” is accepted (%(client_price)s). The hub prepares the "
           "contract and the NDA for signature."),
    ),
    "offer.accepted_staff": Kind(
        _l("%(company)s accepted the offer of %(expert)s on “%(job)s”"),
        _l("%(company)s accepted the offer of %(expert)s on “%(job)s”. Contract %(contract)s waits for "
           "signatures (client price %(client_price)s, expert price %(expert_price)s)."),
    ),
    "offer.not_selected": Kind(
        _l("Another offer was chosen"),
        _l("The company chose another offer for the job “%(job)s”. Thank you for your offer."),
    ),
    "offer.rejected": Kind(
        _l("The company did not take your offer"),
        _l("The company decided not to go ahead with your offer on “%(job)s”. The hub will tell you if there "
           "is anything more to share."),
    ),
    "offer.rejected_staff": Kind(
        _l("%(company)s rejected the offer of %(expert)s on “%(job)s”"),
        _l("%(company)s rejected the offer of %(expert)s on “%(job)s”. Reason: %(reason)s"),
    ),
    "offer.negotiation_requested": Kind(
        _l("%(company)s wants to negotiate the offer of %(expert)s"),
        _l("%(company)s asks about the offer of %(expert)s on “%(job)s”: %(body)s"),
    ),
    "negotiation.message_from_company": Kind(
        _l("New message from %(company)s about an offer on “%(job)s”"),
        _l("%(company)s wrote about the offer of %(expert)s on “%(job)s”: %(body)s"),
    ),
    "negotiation.message_from_expert": Kind(
        _l("New message from %(expert)s about the offer on “%(job)s”"),
        _l("%(expert)s wrote about the offer on “%(job)s”: %(body)s"),
    ),
    "negotiation.message_to_company": Kind(
        _l("The hub wrote about an offer for “%(job)s”"),
        _l("The hub wrote about the offer of %(expert)s for “%(job)s”: %(body)s"),
    ),
    "negotiation.message_to_expert": Kind(
        _l("The hub wrote about your offer"),
        _l("The hub wrote about your offer on “%(job)s”: %(body)s"),
    ),
    # Revised versions proposed by the hub on the expert's behalf (WORKFLOW.md §5)
    "offer.revision_proposed": Kind(
        _l("The hub proposes a revised version of your offer"),
        _l("The hub proposes a revised version of your offer on “%(job)s”. Nothing changes until you confirm "
           "it; confirm or refuse it on the offer's page. The hub's note: %(note)s"),
    ),
    "offer.proposal_confirmed": Kind(
        _l("%(expert)s confirmed the proposed version of the offer on “%(job)s”"),
        _l("%(expert)s confirmed the hub's proposal: version %(number)s of the offer on “%(job)s” (%(price)s) "
           "waits to be forwarded."),
    ),
    "offer.proposal_refused": Kind(
        _l("%(expert)s refused the proposed version of the offer on “%(job)s”"),
        _l("%(expert)s refused the hub's proposal for the offer on “%(job)s”. Reason: %(reason)s"),
    ),
    # Catalog tickets (issue 3)
    "ticket.opened": Kind(
        _l("Catalog ticket from %(company)s: %(term)s"),
        _l("%(company)s cannot find “%(term)s” in the catalog and opened a ticket."),
    ),
    "ticket.message_from_company": Kind(
        _l("New message on catalog ticket “%(term)s”"),
        _l("%(company)s wrote on the ticket about “%(term)s”: %(body)s"),
    ),
    "ticket.message_from_hub": Kind(
        _l("The hub wrote about your catalog ticket"),
        _l("The hub wrote on your ticket about “%(term)s”: %(body)s"),
    ),
    "ticket.in_progress": Kind(
        _l("The hub is working on your catalog ticket"),
        _l("The hub started working on your ticket about “%(term)s”."),
    ),
    "ticket.resolved": Kind(
        _l("Your catalog ticket is resolved"),
        _l("Your ticket about “%(term)s” is resolved; the new terms are available in your draft: %(terms)s. "
           "Note from the hub: %(note)s"),
    ),
    "ticket.declined": Kind(
        _l("Your catalog ticket was declined"),
        _l("Your ticket about “%(term)s” was declined. Reason: %(reason)s"),
    ),
    # Funding: the funds held by the hub (issue 5)
    "contract.funded": Kind(
        _l("Payment received for contract %(reference)s"),
        _l("We received %(amount)s for “%(job)s”. The funds are held by Plasticonnect until you accept the "
           "work; the project starts now."),
    ),
    "contract.funded_expert": Kind(
        _l("The project “%(job)s” is funded"),
        _l("The company paid for contract %(reference)s. The funds are held by Plasticonnect until the company "
           "accepts the work; the project starts now."),
    ),
    "contract.funded_staff": Kind(
        _l("Contract %(reference)s is funded"),
        _l("Contract %(reference)s was funded by %(method)s (%(amount)s); its project is started."),
    ),
    "escrow.flagged": Kind(
        _l("A payment for contract %(reference)s needs attention"),
        _l("Contract %(reference)s: %(problem)s"),
    ),
    # Contracts and signatures (step 6). Company kinds never name the expert or carry the expert
    # price; expert kinds never carry the client price or the fee.
    "contract.signed_company": Kind(
        _l("Contract %(contract)s is signed"),
        _l("Everyone signed contract %(contract)s for “%(job)s”; the hub sealed the documents. Next, pay the "
           "client price into escrow: the funds are held by Plasticonnect until you accept the work."),
    ),
    "contract.signed_expert": Kind(
        _l("Subcontract %(contract)s is signed"),
        _l("Everyone signed the subcontract and the NDA %(contract)s for “%(job)s”; the hub sealed them. The "
           "project starts when the company has paid."),
    ),
    "contract.signed_staff": Kind(
        _l("Contract %(contract)s is signed and sealed"),
        _l("Every party signed contract %(contract)s (“%(job)s”); the three documents are sealed. It now "
           "waits for the company's payment."),
    ),
    "contract.cancelled": Kind(
        _l("Contract %(contract)s was cancelled"),
        _l("The hub cancelled contract %(contract)s for “%(job)s”. Reason: %(reason)s"),
    ),
    # The project workspace (issue 6)
    "project.contact_masked": Kind(
        _l("Contact details masked in project %(project)s"),
        _l("A message in project %(project)s contained %(count)s contact detail(s); the other side saw them "
           "masked. Open the channel to read the original."),
    ),
    "project.file_shared": Kind(
        _l("New file in project %(project)s"),
        _l("%(name)s (version %(number)s) was shared in project %(project)s."),
    ),
    "project.call_scheduled": Kind(
        _l("Video call for project %(project)s"),
        _l("A video call “%(topic)s” is scheduled for %(when)s (UTC). The join link is in the project channel."),
    ),
    "project.progress": Kind(
        _l("Progress on project %(project)s"),
        _l("The expert reports %(percent)s %% on “%(milestone)s”: %(text)s"),
    ),
    "project.task_assigned": Kind(
        _l("A task for you in project %(project)s"),
        _l("“%(task)s” on milestone “%(milestone)s” is assigned to you (due %(due)s)."),
    ),
    "project.milestone_overdue_expert": Kind(
        _l("Milestone overdue in project %(project)s"),
        _l("Milestone “%(milestone)s” was due on %(due)s and is not done yet. Please post a progress update "
           "or tell the hub when it will be ready."),
    ),
    "project.milestone_overdue_manager": Kind(
        _l("Overdue milestone in project %(project)s"),
        _l("Milestone “%(milestone)s” of project %(project)s was due on %(due)s and is not done."),
    ),
    "qc.assigned": Kind(
        _l("Quality control for project %(project)s"),
        _l("Plasticonnect Hub asks you to review the deliverables of project %(project)s as its "
           "quality-control expert. Read and sign the NDA to join the project."),
    ),
    "qc.joined": Kind(
        _l("The QC expert joined project %(project)s"),
        _l("Expert %(pseudonym)s signed the NDA and joined project %(project)s for quality control."),
    ),
    "qc.removed": Kind(
        _l("Quality control of project %(project)s ended"),
        _l("Plasticonnect Hub ended your quality-control assignment on project %(project)s. Reason: %(reason)s"),
    ),
    # Delivery, release, payouts, disputes, ratings (issue 7)
    "delivery.submitted": Kind(
        _l("Delivery %(number)s for project %(project)s"),
        _l("The expert submitted delivery %(number)s of project %(project)s; it waits for %(next)s."),
    ),
    "delivery.qc_review": Kind(
        _l("A delivery to review for project %(project)s"),
        _l("Delivery %(number)s of project %(project)s is ready for your quality-control review."),
    ),
    "delivery.changes_requested": Kind(
        _l("Changes requested on delivery %(number)s"),
        _l("Plasticonnect Hub asks for changes to delivery %(number)s of project %(project)s: %(comment)s"),
    ),
    "delivery.forwarded": Kind(
        _l("A delivery is ready for your review: %(project)s"),
        _l("Plasticonnect Hub verified delivery %(number)s of project %(project)s and forwarded it to you. "
           "Approve it, or ask for a revision."),
    ),
    "delivery.approved": Kind(
        _l("Delivery %(number)s approved"),
        _l("The company approved delivery %(number)s of project %(project)s. The held funds are being released."),
    ),
    "delivery.revision_requested": Kind(
        _l("Revision requested on project %(project)s"),
        _l("The company asks for a revision of delivery %(number)s of project %(project)s: %(comment)s"),
    ),
    "delivery.review_reminder": Kind(
        _l("A delivery waits for your review: %(project)s"),
        _l("Delivery %(number)s of project %(project)s has waited %(days)s days for your review."),
    ),
    "escrow.released": Kind(
        _l("Funds released for project %(project)s"),
        _l("The funds held for project %(project)s were released (%(amount)s)."),
    ),
    "payout.sent": Kind(
        _l("Payout sent: %(amount)s"),
        _l("Plasticonnect Hub sent you %(amount)s for project %(project)s (reference %(reference)s)."),
    ),
    "payout.attention": Kind(
        _l("A payout needs attention"),
        _l("The payout of %(amount)s for project %(project)s needs an admin: %(reason)s"),
    ),
    "dispute.opened": Kind(
        _l("Dispute opened on project %(project)s"),
        _l("A dispute was opened on project %(project)s; the release of the funds is frozen until the hub "
           "decides. Reason: %(reason)s"),
    ),
    "dispute.decided": Kind(
        _l("Dispute decided on project %(project)s"),
        _l("Plasticonnect Hub decided the dispute on project %(project)s: %(decision)s. Reason: %(reason)s"),
    ),
    "ledger.reconciliation_failed": Kind(
        _l("The ledger does not match the payment provider"),
        _l("The reconciliation of %(checked)s (UTC) found %(count)s mismatch(es) between the ledger and the "
           "payment provider. The audit log entry “ledger.reconciled” lists them; run “flask ledger reconcile” "
           "to check again."),
    ),
    "refund.sent": Kind(
        _l("Refund sent: %(amount)s"),
        _l("Plasticonnect Hub refunded %(amount)s for project %(project)s (reference %(reference)s)."),
    ),
    "project.cancelled": Kind(
        _l("Project %(project)s cancelled"),
        _l("Project %(project)s was cancelled before the work started. Reason: %(reason)s"),
    ),
    "rating.received": Kind(
        _l("You were rated for project %(project)s"),
        _l("The company rated your work on project %(project)s: %(overall)s of 5."),
    ),
}
